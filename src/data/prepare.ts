// The entry point the CLI calls: datasets + tokenizer + options -> cached token shards.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { WhetError, type Problem } from "../errors.ts";
import type { Tokenizer } from "tokenizers";
import { loadDatasets, type MixStrategy } from "./dataset.ts";
import { encodeSamples } from "./encode.ts";
import { packDocs } from "./pack.ts";
import { resolveDatasets } from "./registry.ts";
import { cacheKey, prepareShards } from "./cache.ts";
import { displayPath } from "./read.ts";
import { readShardWarnings, type ShardContent, type ShardHeader, type ShardMeta } from "./shards.ts";
import { compareWithTokenizer, selectTemplate, type ChatTemplate } from "./template.ts";
import { loadTokenizer, type Progress, type TokenizerInfo } from "./tokenize.ts";
import type { Sample, Stage } from "./types.ts";

/** Bump when reading, templating or encoding changes the bytes for the same inputs. */
export const PIPELINE_VERSION = 1;

/** The default of `seed` (as the HF Trainer's), used when the caller gives none. */
const DEFAULT_SEED = 42;

export interface PrepareDataOptions {
  /** Names in dataset_info.json, or paths to .json/.jsonl/.txt files. */
  datasets: string[];
  datasetDir: string;
  /** Folder of the config file (relative dataset_dir and paths are tried against it first). */
  configDir: string;
  /** "sft" or "pt"; anything else is an error. */
  stage: string;
  /** A built-in template name, "tokenizer", or unset for the tokenizer's chat_template. */
  template?: string | null;
  tokenizerDir: string;
  cutoffLen: number;
  packing: boolean;
  trainOnPrompt?: boolean;
  maskHistory?: boolean;
  /** Keep at most this many records of each dataset (the first ones). */
  maxSamples?: number | null;
  /** How several datasets are mixed (LLaMA-Factory's mix_strategy); default concat. */
  mixStrategy?: MixStrategy | null;
  /** One weight per dataset for the interleave strategies; absent: in turn. */
  interleaveProbs?: number[] | null;
  /** val_size: a fraction below 1 or a count of samples held out into the eval split; 0 holds out none. */
  valSize?: number | null;
  /** Seeds interleaving with probabilities and the choice of held-out samples. */
  seed?: number | null;
  placeholders?: Record<string, string> | null;
  /** Shards go to <cacheRoot>/shards/<key>. */
  cacheRoot: string;
  onProgress?: Progress;
  /** Test hook, see prepareShards. */
  beforeMeta?: (tmpDir: string) => void;
}

export interface PreparedData {
  shardDir: string;
  meta: ShardMeta;
  cached: boolean;
  warnings: Problem[];
  /** The held-out split (val_size) as its own shard folder (<shardDir>/eval); null without val_size. */
  eval: { shardDir: string; meta: ShardMeta } | null;
}

export function checkStage(stage: string): Stage {
  if (stage === "sft" || stage === "pt") return stage;
  throw new WhetError("CONFIG_INVALID", [
    { where: "stage", message: `is ${stage}, which the data pipeline does not support yet. Use sft or pt.` },
  ]);
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

export async function prepareData(opts: PrepareDataOptions): Promise<PreparedData> {
  const stage = checkStage(opts.stage);
  if (!Number.isInteger(opts.cutoffLen) || opts.cutoffLen < 2) {
    throw new WhetError("CONFIG_INVALID", [{ where: "cutoff_len", message: `is ${opts.cutoffLen}. Use an integer of at least 2, e.g. 2048.` }]);
  }
  if (opts.datasets.length === 0) throw new WhetError("CONFIG_INVALID", [{ where: "dataset", message: "is empty. Name at least one dataset." }]);
  const specs = resolveDatasets(opts.datasets, { datasetDir: opts.datasetDir, configDir: opts.configDir });
  const { info, tok } = loadTokenizer(opts.tokenizerDir);
  const template = stage === "sft" ? selectTemplate(opts.template ?? undefined, info, tok) : undefined;
  const trainOnPrompt = opts.trainOnPrompt ?? false;
  const maskHistory = opts.maskHistory ?? false;
  const maxSamples = opts.maxSamples ?? undefined;
  const placeholders = opts.placeholders ?? undefined;
  const valSize = opts.valSize ?? 0;
  const seed = opts.seed ?? DEFAULT_SEED;
  // Mixing only means something for several datasets; the seed only where it draws something.
  const mix = specs.length > 1 ? { strategy: opts.mixStrategy ?? "concat", ...(opts.interleaveProbs ? { probs: opts.interleaveProbs } : {}) } : undefined;
  const seeded = valSize > 0 || (mix !== undefined && mix.strategy !== "concat" && mix.probs !== undefined);
  const hashes = specs.map((s) => sha256File(s.file));
  const key = cacheKey({
    pipeline: PIPELINE_VERSION,
    datasets: specs.map((s, i) => ({ sha256: hashes[i], formatting: s.formatting, columns: s.columns, tags: s.tags })),
    stage,
    template: template?.source ?? null,
    tokenizer: info.hash,
    cutoff_len: opts.cutoffLen,
    packing: opts.packing,
    train_on_prompt: trainOnPrompt,
    mask_history: maskHistory,
    max_samples: maxSamples ?? null,
    placeholders: placeholders ?? null,
    mix: mix ?? null,
    val_size: valSize,
    seed: seeded ? seed : null,
  });
  const res = await prepareShards({
    cacheRoot: opts.cacheRoot,
    key,
    ...(opts.beforeMeta ? { beforeMeta: opts.beforeMeta } : {}),
    build: async () => {
      const loaded = loadDatasets(specs, {
        stage,
        seed,
        valSize,
        ...(mix ? { mix } : {}),
        ...(maxSamples !== undefined ? { maxSamples } : {}),
        ...(placeholders ? { placeholders } : {}),
      });
      const total = loaded.train.length + loaded.heldOut.length;
      const progress = (offset: number): Progress | undefined => (opts.onProgress ? (d) => opts.onProgress!(offset + d, total) : undefined);
      const header: ShardHeader = {
        tokenizer_hash: info.hash,
        template: template?.name ?? "none",
        stage,
        cutoff_len: opts.cutoffLen,
        packing: opts.packing,
        seq_len: opts.cutoffLen,
        pad_token_id: info.padId,
        eos_token_id: info.eosId,
        packing_efficiency: 0,
        datasets: loaded.counts.map((c, i) => ({ name: c.name, file: c.file, sha256: hashes[i]!, records: c.samples })),
        mix_strategy: mix?.strategy ?? "concat",
        held_out_samples: loaded.heldOut.length,
      };
      const withTools = [...loaded.train, ...loaded.heldOut].filter((x) => x.kind === "chat" && x.tools !== undefined).length;
      const encode = { stage, cutoffLen: opts.cutoffLen, trainOnPrompt, maskHistory, packing: opts.packing, header, template, tok, info };
      const train = await encodeSplit(loaded.train, { ...encode, onProgress: progress(0) });
      if (train.content.docs.length === 0 || train.trained === 0) {
        throw new WhetError("DATASET_EMPTY", [
          { where: `dataset ${opts.datasets.join(",")}`, message: `has no sample with a trained token within cutoff_len ${opts.cutoffLen}. Raise cutoff_len or check the data.` },
        ]);
      }
      if (template && withTools > 0 && !template.rendersTools) {
        const own = template.name === "jinja" ? "the tokenizer's chat_template does not use tools" : `the built-in template ${template.name} does not render them`;
        train.content.warnings!.push({
          where: "template",
          message: `${withTools} sample(s) carry tool definitions (the tools column), which are left out of the text: ${own}. Use a model whose chat_template renders tools, or put the definitions in the system message.`,
        });
      }
      if (loaded.heldOut.length === 0) return train.content;
      const held = await encodeSplit(loaded.heldOut, { ...encode, onProgress: progress(loaded.train.length) });
      if (held.trained === 0) {
        train.content.warnings!.push({ where: "val_size", message: `the ${loaded.heldOut.length} held-out samples have no trained token within cutoff_len ${opts.cutoffLen}. Raise cutoff_len or val_size.` });
      }
      return { ...train.content, eval: held.content };
    },
  });
  const warnings = [...specs.flatMap((s) => s.warnings), ...readShardWarnings(res.dir)];
  const mismatch = template && compareWithTokenizer(template, info);
  if (mismatch) warnings.push(mismatch);
  return { shardDir: res.dir, meta: res.meta, cached: res.cached, warnings, eval: res.eval ? { shardDir: res.eval.dir, meta: res.eval.meta } : null };
}

interface SplitOptions {
  stage: Stage;
  cutoffLen: number;
  trainOnPrompt: boolean;
  maskHistory: boolean;
  packing: boolean;
  header: ShardHeader;
  template: ChatTemplate | undefined;
  tok: Tokenizer;
  info: TokenizerInfo;
  onProgress: Progress | undefined;
}

/** Tokenizes and packs one split (train or held out) into shard content with its warnings. */
async function encodeSplit(samples: Sample[], o: SplitOptions): Promise<{ content: ShardContent; trained: number }> {
  const enc = await encodeSamples(samples, o.template, o.tok, {
    stage: o.stage,
    cutoffLen: o.cutoffLen,
    trainOnPrompt: o.trainOnPrompt,
    maskHistory: o.maskHistory,
    eosId: o.info.eosId,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const warnings: Problem[] = [];
  if (enc.truncated > 0) {
    const what = o.stage === "pt" ? "were split into chunks of cutoff_len tokens" : "were truncated (their ends cut off)";
    warnings.push({ where: "cutoff_len", message: `${enc.truncated} of ${samples.length} samples are longer than ${o.cutoffLen} tokens and ${what}. Raise cutoff_len to keep them whole.` });
  }
  if (enc.dropped > 0) {
    warnings.push({ where: "cutoff_len", message: `${enc.dropped} sample(s) had no trained token left within ${o.cutoffLen} tokens and were dropped. Raise cutoff_len to keep them.` });
  }
  if (enc.boundaryMismatches > 0) {
    warnings.push({
      where: "template",
      message: `${enc.boundaryMismatches} of ${enc.checked} checked samples tokenize differently turn by turn than as one text; the shards use the turn-by-turn tokens. Check the template with whet data inspect.`,
    });
  }
  const trained = enc.docs.reduce((n, d) => n + d.mask.reduce((a, b) => a + b, 0), 0);
  const packed = packDocs(enc.docs.map((d) => d.ids.length), o.cutoffLen, o.packing);
  const header = { ...o.header, packing_efficiency: Number(packed.efficiency.toFixed(4)) };
  return { content: { docs: enc.docs, rows: packed.rows, warnings, header }, trained };
}

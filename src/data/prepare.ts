// The entry point the CLI calls: datasets + tokenizer + options -> cached token shards.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { WhetError, type Problem } from "../errors.ts";
import { loadSamples } from "./dataset.ts";
import { encodeSamples } from "./encode.ts";
import { packDocs } from "./pack.ts";
import { resolveDatasets } from "./registry.ts";
import { cacheKey, prepareShards } from "./cache.ts";
import { readShardWarnings, type DatasetMeta, type ShardMeta } from "./shards.ts";
import { selectTemplate } from "./template.ts";
import { loadTokenizer, type Progress } from "./tokenize.ts";
import type { Sample, Stage } from "./types.ts";

/** Bump when reading, templating or encoding changes the bytes for the same inputs. */
export const PIPELINE_VERSION = 1;

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
  /** Keep at most this many records of each dataset. */
  maxSamples?: number | null;
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
  });
  const res = await prepareShards({
    cacheRoot: opts.cacheRoot,
    key,
    ...(opts.beforeMeta ? { beforeMeta: opts.beforeMeta } : {}),
    build: async () => {
      const samples: Sample[] = [];
      const datasets: DatasetMeta[] = [];
      specs.forEach((spec, i) => {
        const s = loadSamples(spec, { stage, ...(maxSamples !== undefined ? { maxSamples } : {}), ...(placeholders ? { placeholders } : {}) });
        datasets.push({ name: spec.name, file: spec.file, sha256: hashes[i]!, records: s.length });
        for (const x of s) samples.push(x);
      });
      const enc = await encodeSamples(samples, template, tok, {
        stage,
        cutoffLen: opts.cutoffLen,
        trainOnPrompt,
        maskHistory,
        eosId: info.eosId,
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      const warnings: Problem[] = [];
      if (enc.truncated > 0) {
        const what = stage === "pt" ? "were split into chunks of cutoff_len tokens" : "were truncated (their ends cut off)";
        warnings.push({ where: "cutoff_len", message: `${enc.truncated} of ${samples.length} samples are longer than ${opts.cutoffLen} tokens and ${what}. Raise cutoff_len to keep them whole.` });
      }
      if (enc.dropped > 0) {
        warnings.push({ where: "cutoff_len", message: `${enc.dropped} sample(s) had no trained token left within ${opts.cutoffLen} tokens and were dropped. Raise cutoff_len to keep them.` });
      }
      if (enc.boundaryMismatches > 0) {
        warnings.push({
          where: "template",
          message: `${enc.boundaryMismatches} of ${enc.checked} checked samples tokenize differently turn by turn than as one text; the shards use the turn-by-turn tokens. Check the template with whet data inspect.`,
        });
      }
      const trained = enc.docs.reduce((n, d) => n + d.mask.reduce((a, b) => a + b, 0), 0);
      if (enc.docs.length === 0 || trained === 0) {
        throw new WhetError("DATASET_EMPTY", [
          { where: `dataset ${opts.datasets.join(",")}`, message: `has no sample with a trained token within cutoff_len ${opts.cutoffLen}. Raise cutoff_len or check the data.` },
        ]);
      }
      const packed = packDocs(enc.docs.map((d) => d.ids.length), opts.cutoffLen, opts.packing);
      return {
        docs: enc.docs,
        rows: packed.rows,
        warnings,
        header: {
          tokenizer_hash: info.hash,
          template: template?.name ?? "none",
          stage,
          cutoff_len: opts.cutoffLen,
          packing: opts.packing,
          seq_len: opts.cutoffLen,
          pad_token_id: info.padId,
          eos_token_id: info.eosId,
          packing_efficiency: Number(packed.efficiency.toFixed(4)),
          datasets,
        },
      };
    },
  });
  return { shardDir: res.dir, meta: res.meta, cached: res.cached, warnings: readShardWarnings(res.dir) };
}

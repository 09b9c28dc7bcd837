// Everything between a config file and a launchable run: validate, find the model, prepare the
// token shards, decide the hardware and the batch arithmetic, and build the RunSpec.
// Nothing is written to the run directory here; the caller does that once all checks passed.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { homedir } from "node:os";
import { WhetError, type Problem } from "../errors.ts";
import { loadConfig } from "../config/load.ts";
import { configPaths } from "../config/paths.ts";
import { prepareData, loadTokenizerInfo } from "../data/index.ts";
import { visibleGpus } from "../launch/hardware.ts";
import { findPython } from "../launch/python.ts";
import { resolveModel } from "./model.ts";
import { resolveSpec } from "./resolve.ts";
import { freshRunDir, makeRunId } from "./rundir.ts";
import type { RunSpec } from "../spec/runspec.ts";
import { REPO_ROOT } from "../launch/python.ts";

export const QUICKSTART_CONFIG = join(REPO_ROOT, "examples", "quickstart", "whet.yaml");

export interface PrepareOptions {
  configPath?: string;
  overrides: string[];
  device?: "cuda" | "cpu";
  nproc?: number;
  nnodes?: number;
  python?: string;
  runsRoot?: string;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface PreparedRun {
  configText: string;
  spec: RunSpec;
  notes: string[];
  warnings: Problem[];
  python: string;
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.WHET_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "whetstone");
}

export async function prepareRun(opts: PrepareOptions): Promise<PreparedRun> {
  const configPath = resolve(opts.configPath ?? QUICKSTART_CONFIG);
  const loaded = loadConfig(configPath, opts.overrides);
  const { config } = loaded;
  const configDir = dirname(configPath);
  const warnings: Problem[] = [...loaded.warnings];
  const python = findPython(opts.python);

  const gpus = visibleGpus();
  const wanted = opts.device ?? (config.device === "auto" ? undefined : config.device);
  const device = wanted ?? (gpus.length > 0 ? "cuda" : "cpu");
  if (device === "cuda" && gpus.length === 0) {
    throw new WhetError("CONFIG_INVALID", [{ where: "device", message: "is cuda but no GPU is visible (nvidia-smi lists none). Use device: cpu, or check CUDA_VISIBLE_DEVICES." }]);
  }
  const configNproc = config.nproc === "auto" ? undefined : config.nproc;
  const nprocPerNode = opts.nproc ?? configNproc ?? (device === "cuda" ? gpus.length : 1);
  if (device === "cuda" && nprocPerNode > gpus.length) {
    throw new WhetError("CONFIG_INVALID", [{ where: "nproc", message: `asks for ${nprocPerNode} processes but ${gpus.length} GPUs are visible. Lower nproc.` }]);
  }

  const model = resolveModel(config.model_name_or_path, {
    configDir,
    randomInit: config.random_init,
    python,
    where: `${configPath} model_name_or_path`,
  });
  const tokenizer = loadTokenizerInfo(model.path);
  const data = await prepareData({
    datasets: config.dataset.split(",").map((s: string) => s.trim()).filter(Boolean),
    datasetDir: config.dataset_dir,
    configDir,
    stage: config.stage,
    template: config.template,
    tokenizerDir: model.path,
    cutoffLen: config.cutoff_len,
    packing: config.packing ?? config.stage === "pt",
    trainOnPrompt: config.train_on_prompt,
    maskHistory: config.mask_history,
    maxSamples: config.max_samples,
    placeholders: config.dataset_placeholders,
    cacheRoot: cacheRoot(),
    onProgress: opts.onProgress ? (done: number, total: number) => opts.onProgress!("tokenizing", done, total) : undefined,
  });
  warnings.push(...data.warnings);

  const runsRoot = resolve(opts.runsRoot ?? "runs");
  let runId: string;
  let runDir: string;
  const { outputDir } = configPaths(config, configDir);
  if (outputDir) {
    runDir = outputDir;
    runId = runDir.split("/").pop() ?? "run";
    if (existsSync(join(runDir, "spec.json")) && !config.overwrite_output_dir) {
      throw new WhetError("CONFIG_INVALID", [
        { where: `${configPath} output_dir`, message: `${runDir} already holds a run. Continue it with 'whet train --resume ${runDir}', choose another output_dir, or set overwrite_output_dir: true.` },
      ]);
    }
  } else {
    const method = `${config.finetuning_type}-${config.stage}`;
    ({ id: runId, dir: runDir } = freshRunDir(runsRoot, makeRunId(method)));
  }

  const resolved = resolveSpec({
    config,
    runId,
    runDir,
    model: { path: model.path, randomInit: config.random_init, tokenizerPath: model.path, config: model.config },
    tokenizer: { padId: tokenizer.padId, eosId: tokenizer.eosId },
    data: {
      shardDir: data.shardDir,
      seqLen: data.meta.seq_len,
      packing: data.meta.packing,
      numRows: data.meta.num_rows,
      numTokens: data.meta.num_tokens,
      trainedTokens: data.meta.trained_tokens,
    },
    hardware: { device, nprocPerNode, nnodes: opts.nnodes ?? 1 },
    resumeFrom: null,
  });
  warnings.push(...resolved.warnings);
  const notes = [`device: ${device}${device === "cuda" ? ` (${gpus.map((g) => g.name).join(", ")})` : ""}, ${nprocPerNode} process(es) per node`, ...resolved.notes];
  notes.push(`data: ${data.meta.num_docs} samples in ${data.meta.num_rows} rows of up to ${data.meta.seq_len} tokens, ${data.meta.trained_tokens} trained tokens${data.cached ? " (cached shards)" : ""}`);
  return { configText: readFileSync(configPath, "utf8"), spec: resolved.spec, notes, warnings, python };
}

// Everything between a config file and a launchable run: validate, find the model, prepare the
// token shards, decide the hardware and the batch arithmetic, and build the RunSpec.
// Nothing is written to the run directory here; the caller does that once all checks passed.
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { homedir } from "node:os";
import { WhetError, type Problem } from "../errors.ts";
import { loadConfig } from "../config/load.ts";
import { configPaths } from "../config/paths.ts";
import { prepareData, datasetOptions, loadTokenizerInfo } from "../data/index.ts";
import { visibleGpus } from "../launch/hardware.ts";
import { trainPreflight } from "../plan/preflight.ts";
import { findPython } from "../launch/python.ts";
import { resolveModel } from "./model.ts";
import { resolveSpec } from "./resolve.ts";
import { freshRunDir, listCheckpoints, makeRunId } from "./rundir.ts";
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
  /** A retry of a run: its directory (reused as it is) and the checkpoint it continues from. */
  retry?: { runDir: string; resumeFrom: string | null };
  /** Test-only fault injection; undefined reads $WHET_FAULT, null means none (retries). */
  fault?: RunSpec["fault"];
  /** Launch on GPUs even when the planner predicts the run will not fit (--force). */
  force?: boolean;
  /** This node's rank when nnodes > 1: nodes above 0 join the run directory node 0 writes. */
  nodeRank?: number;
}

export interface PreparedRun {
  configText: string;
  spec: RunSpec;
  notes: string[];
  warnings: Problem[];
  python: string;
  /** What the planner needs to price another setting after an OOM; absent for --resume. */
  config?: Record<string, unknown>;
  modelConfig?: Record<string, unknown>;
  /** The auto_resume key: restart from the last checkpoint after a rank died or stalled. */
  autoResume?: boolean;
}

/** WHET_FAULT=kind:rank:step (kind raise|exit|hang|oom|nan): rank K does that at step S. Test-only. */
export function faultFromEnv(value = process.env.WHET_FAULT): RunSpec["fault"] {
  if (!value) return null;
  const m = /^(raise|exit|hang|oom|nan):(\d+):(\d+)$/.exec(value.trim());
  if (!m) throw new WhetError("USAGE", [{ where: "WHET_FAULT", message: `is "${value}"; write kind:rank:step with kind raise, exit, hang, oom or nan, like exit:1:3.` }]);
  return { kind: m[1] as NonNullable<RunSpec["fault"]>["kind"], rank: Number(m[2]), step: Number(m[3]) };
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

  // The run directory is decided (and an occupied output_dir refused) before the data is
  // tokenized, so a refused start leaves nothing in the cache either.
  const fault = opts.fault === undefined ? faultFromEnv() : opts.fault;
  const runsRoot = resolve(opts.runsRoot ?? "runs");
  let runId: string;
  let runDir: string;
  let resumeFrom: string | null = null;
  const autoNotes: string[] = [];
  const { outputDir } = configPaths(config, configDir);
  const joining = (opts.nodeRank ?? 0) > 0;
  if ((opts.nnodes ?? 1) > 1 && !outputDir && !opts.retry) {
    throw new WhetError("CONFIG_INVALID", [
      { where: `${configPath} output_dir`, message: "is required with --nnodes above 1: every node must write the same run directory. Set output_dir (whet launch slurm sets it for you)." },
    ]);
  }
  if (opts.retry) {
    runDir = opts.retry.runDir;
    runId = basename(runDir);
    resumeFrom = opts.retry.resumeFrom;
  } else if (outputDir) {
    runDir = outputDir;
    runId = runDir.split("/").pop() ?? "run";
    const last = config.auto_resume && !config.overwrite_output_dir ? listCheckpoints(runDir, { complete: true }).pop() : undefined;
    if (last) {
      resumeFrom = last.path;
      autoNotes.push(`auto_resume: continuing ${runDir} from ${last.path}`);
    } else if (existsSync(join(runDir, "spec.json")) && !config.overwrite_output_dir && !joining) {
      throw new WhetError("CONFIG_INVALID", [
        { where: `${configPath} output_dir`, message: `${runDir} already holds a run. Continue it with 'whet train --resume ${runDir}', choose another output_dir, or set overwrite_output_dir: true.` },
      ]);
    }
  } else {
    const method = `${config.finetuning_type}-${config.stage}`;
    ({ id: runId, dir: runDir } = freshRunDir(runsRoot, makeRunId(method)));
  }

  const model = resolveModel(config.model_name_or_path, {
    configDir,
    randomInit: config.random_init,
    python,
    where: `${configPath} model_name_or_path`,
  });
  // On GPUs the planner fills sharding: auto and refuses a run it predicts will not fit
  // (before tokenizing: a refused start costs nothing). A retry after an OOM is priced by the
  // recovery loop itself.
  const planned = { ...config };
  const planNotes: string[] = [];
  if (device === "cuda") {
    const pre = trainPreflight(config as unknown as Record<string, unknown>, model.config, {
      world: nprocPerNode * (opts.nnodes ?? 1),
      gpuMemoryBytes: Math.min(...gpus.map((g) => g.memoryMiB)) * 2 ** 20,
      insist: opts.force === true || opts.retry !== undefined,
      given: loaded.given,
    });
    Object.assign(planned, pre.chosen);
    planNotes.push(...pre.notes);
  }
  const tokenizer = loadTokenizerInfo(model.path);
  const data = await prepareData({
    ...datasetOptions(config),
    configDir,
    tokenizerDir: model.path,
    cacheRoot: cacheRoot(),
    onProgress: opts.onProgress ? (done: number, total: number) => opts.onProgress!("tokenizing", done, total) : undefined,
  });
  warnings.push(...data.warnings);

  const resolved = resolveSpec({
    config: planned,
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
      numDocs: data.meta.num_docs,
      eval: data.eval ? { shardDir: data.eval.shardDir, numRows: data.eval.meta.num_rows } : null,
    },
    hardware: { device, nprocPerNode, nnodes: opts.nnodes ?? 1, ...(device === "cuda" && gpus[0] ? { gpuName: gpus[0].name } : {}) },
    resumeFrom,
    fault,
  });
  warnings.push(...resolved.warnings);
  const notes = [...autoNotes, `device: ${device}${device === "cuda" ? ` (${gpus.map((g) => g.name).join(", ")})` : ""}, ${nprocPerNode} process(es) per node`, ...resolved.notes, ...planNotes];
  notes.push(`data: ${data.meta.num_docs} samples in ${data.meta.num_rows} rows of up to ${data.meta.seq_len} tokens, ${data.meta.trained_tokens} trained tokens${data.cached ? " (cached shards)" : ""}`);
  if (resolved.spec.fault) notes.push(`fault injection (test only): rank ${resolved.spec.fault.rank} does "${resolved.spec.fault.kind}" at step ${resolved.spec.fault.step}`);
  return {
    configText: readFileSync(configPath, "utf8"),
    spec: resolved.spec,
    notes,
    warnings,
    python,
    config: config as unknown as Record<string, unknown>,
    modelConfig: model.config,
    autoResume: config.auto_resume,
  };
}

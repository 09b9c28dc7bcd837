// Measures real peak memory to calibrate the planner (src/plan/constants.ts), on a GPU machine:
// (one file on purpose: it runs alone on a bare GPU machine; the planner's logic it relies on lives
// in src/plan/, and what is left here is the matrix, the runner and the report, each tested.)
//
//   WHET_CALIB_TOKENIZER=/path/to/SmolLM2-135M-Instruct node --import tsx bench/calibrate-memory.ts run \
//       [--budget-s 480] [--lanes 2] [--out DIR] [--shapes 135m,1b] [--ids ID,...] [--merge EARLIER.json]
//       [--run-timeout-s 240] [--keep]
//   node --import tsx bench/calibrate-memory.ts run --dry-run [--json]   (the matrix and its predictions; runs nothing)
//   node --import tsx bench/calibrate-memory.ts run --smoke                (a tiny shape on the CPU: the runner itself)
//   node --import tsx bench/calibrate-memory.ts fit bench/results/memory-calibration-<date>.json [--write]
//
// `run` writes random-weight models (config.json + the tokenizer files) and a synthetic dataset
// into a temp folder and runs `whet train --json` once per configuration of MATRIX, most valuable
// first: methods full/lora × sharding ddp/zero3 (one process) × checkpointing none/selective/full
// × 512..8192 tokens per micro-batch × shapes from 135M to 8B, optimizer offload, two sdpa runs;
// the rest use the default attention (varlen on the GPU) and every run has torch_compile=false
// (the memory of compiled blocks is not what this measures). Each run is stopped (its worker
// SIGKILLed, then whet and torchrun exit and are reaped) once the worker reports its last step,
// so no run pays for an export. Up to --lanes runs share the GPU when their predicted peaks fit
// side by side (each process's reserved memory is its own); large or host-heavy runs run alone.
// After --budget-s seconds no run starts, and one still running is killed and recorded as such.
// The results file (hardware, versions, exact commands, per-step memory, the resolved attention)
// is rewritten after every run, so a run cut short still leaves what was measured.
//
// Each configuration is planned for the fit or for the held-out comparison (`split`), fixed here
// before anything is measured. `fit` fits the planner's fitted factors on the fit runs only and
// compares predicted and measured peak reserved memory on the held-out runs; with --write it puts
// the fit and the comparison into the results file, records the factors in
// src/plan/calibrated.ts and regenerates docs/memory.md (its tables and its calibration section).
// The pure parts (matrix, config text, event summary, rendering) are exported and tested on CPU.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, hostname, tmpdir, totalmem } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEventLine, type WhetEvent } from "../src/events/schema.ts";
import { visibleGpus } from "../src/launch/hardware.ts";
import { ALLOC_CONF } from "../src/launch/torchrun.ts";
import { descendants, isWorker, startTime } from "../src/launch/procs.ts";
import { fitAndCompare, KNOBS, type CalibrationReport, type Comparison, type Measurement, type Split } from "../src/plan/calibrate.ts";
import { FIRST_PRINCIPLES, withCalibration, type Calibration, type PlanConstants } from "../src/plan/constants.ts";
import { planInputFromConfig } from "../src/plan/from-config.ts";
import { planRun, type PlanInput } from "../src/plan/planner.ts";
import { DOC_PATH, renderTables, spliceBetween, spliceTables } from "../src/plan/table.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const GiB = 1024 ** 3;

/** config.json fields of the calibration shapes: 135M to 8B, all Llama-architecture. */
export const SHAPES: Record<string, Record<string, unknown>> = {
  "135m": { hidden_size: 576, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, intermediate_size: 1536, vocab_size: 49152, tie_word_embeddings: true },
  "360m": { hidden_size: 960, num_hidden_layers: 32, num_attention_heads: 15, num_key_value_heads: 5, intermediate_size: 2560, vocab_size: 49152, tie_word_embeddings: true },
  "1b": { hidden_size: 2048, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, tie_word_embeddings: true },
  "3b": { hidden_size: 3072, num_hidden_layers: 28, num_attention_heads: 24, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, tie_word_embeddings: true },
  "8b": { hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256, tie_word_embeddings: false },
  /** For --smoke on the CPU: the runner, not the numbers. */
  tiny: { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 128, vocab_size: 49152, tie_word_embeddings: true },
};

export function modelConfigJson(shape: string): Record<string, unknown> {
  const fields = SHAPES[shape];
  if (!fields) throw new Error(`unknown shape "${shape}"; the shapes are ${Object.keys(SHAPES).join(", ")}`);
  return {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_act: "silu", rms_norm_eps: 1e-5, rope_theta: 500000,
    max_position_embeddings: 8192, attention_bias: false, mlp_bias: false, attention_dropout: 0, torch_dtype: "bfloat16", ...fields,
  };
}

export interface CalibRun {
  id: string;
  shape: string;
  split: Split;
  /** key=value overrides on top of BASE_CONFIG, exactly as passed to whet train. */
  overrides: Record<string, string | number | boolean>;
}

export const BASE_CONFIG = {
  model_name_or_path: "model",
  random_init: true,
  stage: "sft",
  dataset: "data.jsonl",
  packing: true,
  gradient_accumulation_steps: 1,
  learning_rate: 1e-5,
  max_steps: 3,
  logging_steps: 1,
  save_steps: 0,
  bf16: true,
  torch_compile: false,
  seed: 0,
};

type Checkpointing = "none" | "full" | "selective/2" | "selective/4";
interface Spec {
  shape: string;
  method: "full" | "lora";
  sharding: "ddp" | "zero3";
  offload?: "optimizer";
  ck: Checkpointing;
  micro: number;
  seq: number;
  attn?: "sdpa";
  split: Split;
  /** Steps to run; the peak is in place from the second step on. Default BASE_CONFIG.max_steps. */
  steps?: number;
}

const CK_LABEL: Record<Checkpointing, string> = { none: "ck0", full: "ckfull", "selective/2": "cksel2", "selective/4": "cksel4" };

export function calibRun(s: Spec): CalibRun {
  const id = [s.shape, s.method, s.sharding + (s.offload ? "-offopt" : ""), CK_LABEL[s.ck], `${s.micro}x${s.seq}`, ...(s.attn ? [s.attn] : [])].join("-");
  return {
    id,
    shape: s.shape,
    split: s.split,
    overrides: {
      finetuning_type: s.method,
      sharding: s.sharding,
      offload: s.offload ?? "none",
      gradient_checkpointing: s.ck,
      cutoff_len: s.seq,
      per_device_train_batch_size: s.micro,
      ...(s.attn ? { attn_implementation: s.attn } : {}),
      ...(s.steps ? { max_steps: s.steps } : {}),
    },
  };
}

const F: Split = "fit";
const H: Split = "held-out";
/**
 * Most valuable first, fit and held-out interleaved so that a budget cut leaves both sides
 * covering what was reached. The first twelve pin down every fitted factor (checkpointing none and
 * full, the fp32 residual stream of ddp and the 16-bit one of zero3, LoRA, 49K and 128K
 * vocabularies, 2K to 8K tokens) and test each side of it once; later rounds add selective
 * checkpointing, offload, sdpa, 512-token micro-batches and more shapes. The 8B full run (ZeRO-3
 * with the optimizer on the host, ~95 GiB of host RAM, ~20 s per step) comes last.
 */
export const MATRIX: Spec[] = [
  { shape: "135m", method: "full", sharding: "ddp", ck: "none", micro: 4, seq: 2048, split: F },
  { shape: "360m", method: "full", sharding: "ddp", ck: "none", micro: 2, seq: 1024, split: H },
  { shape: "1b", method: "lora", sharding: "ddp", ck: "none", micro: 2, seq: 2048, split: F },
  { shape: "1b", method: "lora", sharding: "ddp", ck: "full", micro: 4, seq: 2048, split: H },
  { shape: "1b", method: "full", sharding: "zero3", ck: "full", micro: 1, seq: 4096, split: F },
  { shape: "3b", method: "full", sharding: "zero3", ck: "selective/2", micro: 1, seq: 2048, split: H },
  { shape: "8b", method: "lora", sharding: "ddp", ck: "full", micro: 2, seq: 4096, split: F },
  { shape: "8b", method: "lora", sharding: "ddp", ck: "none", micro: 1, seq: 2048, split: H },
  { shape: "135m", method: "full", sharding: "ddp", ck: "full", micro: 4, seq: 2048, split: F },
  { shape: "135m", method: "lora", sharding: "ddp", ck: "full", micro: 1, seq: 8192, split: H },
  { shape: "3b", method: "lora", sharding: "ddp", ck: "none", micro: 1, seq: 4096, split: F },
  { shape: "360m", method: "full", sharding: "ddp", ck: "selective/2", micro: 4, seq: 1024, split: H },
  // Round 2
  { shape: "1b", method: "full", sharding: "ddp", ck: "none", micro: 1, seq: 2048, split: F },
  { shape: "1b", method: "full", sharding: "ddp", ck: "full", micro: 2, seq: 4096, split: H },
  { shape: "3b", method: "full", sharding: "zero3", ck: "none", micro: 1, seq: 2048, split: F },
  { shape: "3b", method: "lora", sharding: "zero3", ck: "full", micro: 4, seq: 2048, split: H },
  { shape: "1b", method: "full", sharding: "zero3", offload: "optimizer", ck: "full", micro: 1, seq: 2048, split: F },
  { shape: "360m", method: "full", sharding: "zero3", offload: "optimizer", ck: "none", micro: 2, seq: 1024, split: H },
  { shape: "360m", method: "lora", sharding: "zero3", ck: "none", micro: 1, seq: 4096, split: F },
  { shape: "135m", method: "full", sharding: "zero3", ck: "none", micro: 1, seq: 512, split: H },
  { shape: "135m", method: "lora", sharding: "ddp", ck: "none", micro: 16, seq: 512, split: F },
  { shape: "1b", method: "lora", sharding: "ddp", ck: "none", micro: 1, seq: 512, split: H },
  // Round 3
  { shape: "135m", method: "full", sharding: "ddp", ck: "selective/2", micro: 1, seq: 2048, split: F },
  { shape: "3b", method: "full", sharding: "ddp", ck: "none", micro: 1, seq: 1024, split: H },
  { shape: "3b", method: "lora", sharding: "ddp", ck: "full", micro: 1, seq: 8192, split: F },
  { shape: "8b", method: "lora", sharding: "ddp", ck: "selective/2", micro: 1, seq: 4096, split: H },
  { shape: "8b", method: "lora", sharding: "zero3", ck: "none", micro: 1, seq: 2048, split: F },
  { shape: "1b", method: "full", sharding: "ddp", ck: "full", micro: 1, seq: 2048, attn: "sdpa", split: H },
  { shape: "135m", method: "lora", sharding: "ddp", ck: "none", micro: 2, seq: 1024, attn: "sdpa", split: F },
  { shape: "135m", method: "lora", sharding: "zero3", ck: "selective/2", micro: 2, seq: 2048, split: H },
  // Round 4: more fit runs, then the 8B full run
  { shape: "360m", method: "full", sharding: "zero3", ck: "full", micro: 2, seq: 2048, split: F },
  { shape: "1b", method: "lora", sharding: "ddp", ck: "full", micro: 1, seq: 512, split: F },
  { shape: "135m", method: "full", sharding: "ddp", ck: "none", micro: 1, seq: 512, split: F },
  { shape: "360m", method: "lora", sharding: "ddp", ck: "selective/4", micro: 2, seq: 2048, split: F },
  { shape: "3b", method: "full", sharding: "ddp", ck: "full", micro: 1, seq: 2048, split: F },
  { shape: "8b", method: "full", sharding: "zero3", offload: "optimizer", ck: "full", micro: 1, seq: 2048, split: H, steps: 2 },
  // Round 5: full fine-tuning with untied embeddings in the fit (every smaller shape ties them):
  // FSDP2's root group then holds the embedding and the head, and its reduce is twice as large.
  { shape: "8b", method: "full", sharding: "zero3", ck: "full", micro: 1, seq: 1024, split: F, steps: 3 },
  { shape: "8b", method: "full", sharding: "zero3", offload: "optimizer", ck: "selective/2", micro: 1, seq: 2048, split: F, steps: 2 },
];

/** A handful of tiny-shape runs for --smoke: the runner on the CPU, every status path. */
export const SMOKE_MATRIX: Spec[] = [
  { shape: "tiny", method: "full", sharding: "ddp", ck: "none", micro: 2, seq: 256, split: F },
  { shape: "tiny", method: "lora", sharding: "ddp", ck: "full", micro: 1, seq: 512, split: H },
  { shape: "tiny", method: "full", sharding: "ddp", ck: "selective/2", micro: 1, seq: 512, split: F },
];

export function buildMatrix(shapes?: string[], specs: Spec[] = MATRIX, ids?: string[]): CalibRun[] {
  const runs = specs.filter((s) => !shapes || shapes.includes(s.shape)).map(calibRun);
  if (!ids) return runs;
  const unknown = ids.filter((id) => !runs.some((r) => r.id === id));
  if (unknown.length) throw new Error(`--ids: no configuration ${unknown.join(", ")}; see \`run --dry-run\` for the ids`);
  return runs.filter((r) => ids.includes(r.id));
}

/** --merge: the earlier results' runs that this invocation does not measure again, then this one's. */
export function mergeRuns<R extends { id: string }>(earlier: R[], now: R[]): R[] {
  const fresh = new Set(now.map((r) => r.id));
  return [...earlier.filter((r) => !fresh.has(r.id)), ...now];
}

export function configYaml(c: Record<string, unknown>): string {
  return Object.entries(c).map(([k, v]) => `${k}: ${typeof v === "string" ? JSON.stringify(v) : String(v)}`).join("\n") + "\n";
}

export function planInputFor(run: CalibRun, world = 1): PlanInput {
  return planInputFromConfig({ ...BASE_CONFIG, ...run.overrides }, modelConfigJson(run.shape), world).input;
}

export function stepsOf(run: CalibRun): number {
  return Number(run.overrides.max_steps ?? BASE_CONFIG.max_steps);
}

type StepEvent = Extract<WhetEvent, { type: "step" }>;
type HelloEvent = Extract<WhetEvent, { type: "hello" }>;

export interface StepMemory {
  step: number;
  tokens: number;
  step_time_s: number;
  mem_allocated_gib: number;
  mem_reserved_gib: number;
  mem_peak_gib: number;
  mem_peak_reserved_gib?: number;
}

export interface RunSummary {
  status: "ok" | "oom" | "failed";
  /** Largest torch.cuda.memory_reserved over the steps (the allocator never gives memory back). */
  reservedGiB: number | null;
  /** torch.cuda.max_memory_allocated at the last step. */
  peakGiB: number | null;
  /** torch.cuda.memory_allocated after a step: the states that outlive it. */
  allocatedGiB: number | null;
  /** The most real tokens a step had (one micro-batch per step here). */
  maxTokens: number | null;
  steps: StepMemory[];
  hello: HelloEvent | null;
  error: string | null;
}

/** Reads `whet train --json` stdout: the largest memory figures over the steps, and errors. */
export function summarizeEvents(stdout: string, wantSteps?: number): RunSummary {
  const events = stdout.split("\n").filter(Boolean).map(parseEventLine).flatMap((p) => (p.ok ? [p.event] : []));
  const steps = events.flatMap((e): StepEvent[] => (e.type === "step" && e.rank === 0 ? [e] : []));
  const hello = events.find((e): e is HelloEvent => e.type === "hello" && e.rank === 0) ?? null;
  const error = events.find((e) => e.type === "error");
  const max = (f: (s: StepEvent) => number) => (steps.length ? Math.max(...steps.map(f)) : null);
  const complete = steps.length > 0 && (wantSteps === undefined || Math.max(...steps.map((s) => s.step)) >= wantSteps);
  const status = error ? (error.type === "error" && error.code === "OOM" ? "oom" : "failed") : complete ? "ok" : "failed";
  return {
    status,
    reservedGiB: max((s) => s.mem_peak_reserved_gib ?? s.mem_reserved_gib),
    peakGiB: max((s) => s.mem_peak_gib),
    allocatedGiB: max((s) => s.mem_allocated_gib),
    maxTokens: max((s) => s.tokens),
    steps: steps.map((s) => ({ step: s.step, tokens: s.tokens, step_time_s: s.step_time_s, mem_allocated_gib: s.mem_allocated_gib, mem_reserved_gib: s.mem_reserved_gib, mem_peak_reserved_gib: s.mem_peak_reserved_gib, mem_peak_gib: s.mem_peak_gib })),
    hello,
    error: error?.type === "error" ? `${error.code}: ${error.message}` : complete ? null : steps.length ? `stopped after step ${Math.max(...steps.map((s) => s.step))} of ${wantSteps}` : "no step events",
  };
}

export interface RunRecord {
  id: string;
  shape: string;
  split: Split;
  order: number;
  command: string;
  overrides: CalibRun["overrides"];
  plan_input: PlanInput;
  predicted: { constants: string; reserved_gib: number; allocated_gib: number; peak_gib: number; phase: string; host_gib: number };
  status: "pending" | "dry-run" | "ok" | "oom" | "failed" | "killed-budget" | "killed-timeout" | "not-run" | "skipped";
  measured: {
    reserved_gib: number | null;
    allocated_peak_gib: number | null;
    allocated_after_step_gib?: number | null;
    /** Real tokens of the fullest micro-batch, and that over micro-batch × cutoff_len. */
    tokens_max?: number | null;
    fill?: number | null;
    steps?: StepMemory[];
  };
  /** What the run resolved to (its spec.json) and how the worker wrapped the model (hello). */
  resolved?: Record<string, unknown> | null;
  /** Set where the attention ran another path than its configuration says (plan_input follows it). */
  attention_path?: string;
  wall_s?: number;
  stop_to_exit_s?: number | null;
  started_at_s?: number;
  error: string | null;
}

/** Runs whose measurement counts: completed, with a reserved figure. */
export function measurements(runs: Array<{ id: string; status: string; plan_input: PlanInput; split?: Split; measured: { reserved_gib: number | null; allocated_peak_gib?: number | null; peak_gib?: number | null; allocated_after_step_gib?: number | null } }>): Measurement[] {
  return runs.flatMap((r) =>
    r.status === "ok" && r.measured.reserved_gib !== null && r.measured.reserved_gib > 0
      ? [{ id: r.id, input: r.plan_input, reservedGiB: r.measured.reserved_gib, allocatedGiB: r.measured.allocated_peak_gib ?? r.measured.peak_gib ?? null, allocatedAfterStepGiB: r.measured.allocated_after_step_gib ?? null, ...(r.split ? { split: r.split } : {}) }]
      : [],
  );
}

// ---------------------------------------------------------------------------------------------
// Synthetic data and run folders

/** Deterministic chat samples of 20 to ~420 tokens: short and varied, so packed rows come out full. */
export function syntheticData(samples = 700): string {
  const words = "the model learns memory planning from measured runs of several shapes and batch sizes on one device while the planner predicts each phase".split(" ");
  let x = 12345;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  const lines: string[] = [];
  for (let n = 0; n < samples; n++) {
    const length = 10 + (next() % 300);
    const text = Array.from({ length }, () => words[next() % words.length]).join(" ");
    lines.push(JSON.stringify({ messages: [{ role: "user", content: `Sample ${n}.` }, { role: "assistant", content: text }] }));
  }
  return lines.join("\n") + "\n";
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

function prepareRunDir(work: string, run: CalibRun, tokenizer: string, extraConfig: Record<string, unknown>): string {
  const dir = join(work, run.id);
  mkdirSync(join(dir, "model"), { recursive: true });
  writeFileSync(join(dir, "model", "config.json"), JSON.stringify(modelConfigJson(run.shape), null, 2));
  for (const f of TOKENIZER_FILES) if (existsSync(join(tokenizer, f))) copyFileSync(join(tokenizer, f), join(dir, "model", f));
  copyFileSync(join(work, "data.jsonl"), join(dir, "data.jsonl"));
  writeFileSync(join(dir, "whet.yaml"), configYaml({ ...BASE_CONFIG, ...extraConfig }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Running one configuration, and stopping it without leftovers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function kill(pid: number, sig: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

interface Launched {
  summary: RunSummary;
  stopReason: "measured" | "budget" | "timeout" | null;
  exitCode: number | null;
  stderrTail: string;
  resolved: Record<string, unknown> | null;
  wallS: number;
  /** From the stop signal until whet exited and its workers were gone. */
  stopToExitS: number | null;
  leftovers: number[];
}

/**
 * Runs whet train and stops it as soon as the worker reports step `steps` (or at `deadline`):
 * SIGKILL to the worker ranks, so torchrun sees them die and exits, and whet reports and exits, each
 * reaping its own children; after a grace period whatever is left of the tree is SIGKILLed from the
 * leaves up. Resolves once whet has exited and no worker it started is alive.
 */
async function launch(argv: string[], env: NodeJS.ProcessEnv, steps: number, deadline: { at: number; reason: "budget" | "timeout" }[], runDir: string): Promise<Launched> {
  const t0 = Date.now();
  const child = spawn(process.execPath, argv, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let pending = "";
  let stderrTail = "";
  let stopReason: Launched["stopReason"] = null;
  let stoppedAt = 0;
  let resolved: Record<string, unknown> | null = null;
  const workers = new Map<number, string | null>();
  const track = () => {
    if (child.pid === undefined) return;
    for (const pid of descendants(child.pid)) if (!workers.has(pid) && isWorker(pid)) workers.set(pid, startTime(pid));
  };
  const timers: NodeJS.Timeout[] = [];
  const stop = (reason: NonNullable<Launched["stopReason"]>) => {
    if (stopReason) return;
    stopReason = reason;
    stoppedAt = Date.now();
    track();
    const alive = [...workers].filter(([pid, st]) => isWorker(pid, st));
    if (alive.length > 0) for (const [pid] of alive) kill(pid);
    else killTree();
    // Backstop: whatever has not exited by then, leaves first.
    timers.push(setTimeout(killTree, 20_000));
  };
  const killTree = () => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    for (const pid of descendants(child.pid).reverse()) kill(pid);
    kill(child.pid);
  };
  const readSpec = () => {
    if (resolved) return;
    try {
      const spec = JSON.parse(readFileSync(join(runDir, "spec.json"), "utf8"));
      resolved = {
        attn_implementation: spec.model?.attn_implementation ?? null,
        compile: spec.train?.compile ?? null,
        strategy: spec.distributed?.strategy ?? null,
        offload: spec.distributed?.offload ?? null,
        activation_checkpointing: spec.train?.activation_checkpointing ?? null,
        micro_batch_size: spec.train?.micro_batch_size ?? null,
        precision: spec.precision ?? null,
      };
    } catch {
      // not written yet
    }
  };
  child.stdout.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      out += line + "\n";
      const p = parseEventLine(line);
      if (!p.ok) continue;
      if (p.event.type === "hello") readSpec();
      if (p.event.type === "step" && p.event.step >= steps) stop("measured");
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString("utf8")).slice(-3000);
  });
  for (const d of deadline) if (Number.isFinite(d.at)) timers.push(setTimeout(() => stop(d.reason), Math.max(0, d.at - Date.now())));
  const poll = setInterval(track, 1000);
  const exitCode = await new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  clearInterval(poll);
  for (const t of timers) clearTimeout(t);
  readSpec();
  // A worker must not outlive its run: the next one measures a GPU it would share.
  let leftovers = [...workers].filter(([pid, st]) => isWorker(pid, st));
  for (const [pid] of leftovers) kill(pid);
  for (let n = 0; n < 100 && leftovers.length > 0; n++) {
    await sleep(100);
    leftovers = leftovers.filter(([pid, st]) => isWorker(pid, st));
  }
  const summary = summarizeEvents(out + pending, steps);
  if (summary.hello) resolved = { ...(resolved ?? {}), wrapping: (summary.hello as Record<string, unknown>).wrapping ?? null, checkpointing: (summary.hello as Record<string, unknown>).activation_checkpointing ?? null };
  return { summary, stopReason, exitCode, stderrTail, resolved, wallS: (Date.now() - t0) / 1000, stopToExitS: stoppedAt ? (Date.now() - stoppedAt) / 1000 : null, leftovers: leftovers.map(([pid]) => pid) };
}

// ---------------------------------------------------------------------------------------------
// The matrix: scheduling, the results file

interface RunOptions {
  tokenizer: string;
  outFile: string | null;
  budgetS: number;
  runTimeoutS: number;
  lanes: number;
  device: "cuda" | "cpu";
  gpuBytes: number;
  keep: boolean;
  specs: Spec[];
  shapes?: string[];
  ids?: string[];
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
  return v;
}

function numArg(argv: string[], name: string, fallback: number): number {
  const v = arg(argv, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

/** The GiB a run is expected to hold on the GPU, with room for the prediction being low. */
export function claimGiB(predictedPeakGiB: number): number {
  return predictedPeakGiB * 1.25 + 2;
}

/** Runs alone: a large share of the GPU, or the host-side optimizer of a large model. */
export function runsAlone(predictedPeakGiB: number, hostGiB: number, gpuGiB: number): boolean {
  return claimGiB(predictedPeakGiB) > 0.45 * gpuGiB || hostGiB > 24;
}

function predictedOf(input: PlanInput, k: PlanConstants): RunRecord["predicted"] {
  const plan = planRun(input, k);
  return { constants: `${k.source.hardware} (${k.source.date})`, reserved_gib: plan.reservedPeak / GiB, allocated_gib: plan.allocatedPeak / GiB, peak_gib: plan.peak.total / GiB, phase: plan.phase, host_gib: plan.hostBytesPerGpu / GiB };
}

function record(run: CalibRun, order: number, k: PlanConstants, command: string): RunRecord {
  const input = planInputFor(run);
  return {
    id: run.id,
    shape: run.shape,
    split: run.split,
    order,
    command,
    overrides: run.overrides,
    plan_input: input,
    predicted: predictedOf(input, k),
    status: "pending",
    measured: { reserved_gib: null, allocated_peak_gib: null },
    error: null,
  };
}

const NOTE =
  "Every run has torch_compile=false: the memory of compiled blocks is a separate question. Attention is the default (varlen on the GPU) unless the id ends in -sdpa. " +
  "Each run stops when the worker reports its last step (no export); the peak reserved is the largest mem_peak_reserved_gib (torch.cuda.max_memory_reserved) of the step events, or of mem_reserved_gib from workers that do not send it. " +
  "split says whether a run was planned for the fit or for the held-out comparison, before anything was measured.";

async function runMatrix(argv: string[]) {
  const smoke = argv.includes("--smoke");
  const dry = argv.includes("--dry-run");
  const shapesArg = arg(argv, "--shapes");
  const device = smoke || arg(argv, "--device") === "cpu" ? "cpu" : "cuda";
  const gpus = device === "cuda" ? visibleGpus() : [];
  const opts: RunOptions = {
    tokenizer: process.env.WHET_CALIB_TOKENIZER ?? join(process.env.WHET_SHARED ?? join(REPO, "..", "shared", "data"), "tokenizers", "SmolLM2-135M-Instruct"),
    outFile: null,
    budgetS: numArg(argv, "--budget-s", Infinity),
    runTimeoutS: numArg(argv, "--run-timeout-s", smoke ? 300 : 240),
    lanes: Math.floor(numArg(argv, "--lanes", device === "cpu" ? 1 : 2)),
    device,
    gpuBytes: gpus.length ? Math.min(...gpus.map((g) => g.memoryMiB)) * 1024 ** 2 : numArg(argv, "--gpu-memory", 80) * GiB,
    keep: argv.includes("--keep"),
    specs: smoke ? SMOKE_MATRIX : MATRIX,
    shapes: shapesArg ? shapesArg.split(",") : undefined,
    ids: arg(argv, "--ids")?.split(","),
  };
  // --merge FILE: a second invocation on the same machine kind adds runs to earlier results.
  const mergeFile = arg(argv, "--merge");
  const earlier: RunRecord[] = mergeFile ? (JSON.parse(readFileSync(mergeFile, "utf8")) as { runs: RunRecord[] }).runs : [];
  const date = new Date().toISOString().slice(0, 10);
  const outDir = arg(argv, "--out") ?? join(REPO, "bench", "results");
  opts.outFile = dry ? null : join(outDir, `memory-calibration-${smoke ? "smoke-" : ""}${date}.json`);
  const k = FIRST_PRINCIPLES;
  const runs = buildMatrix(opts.shapes, opts.specs, opts.ids);
  if (runs.length === 0) throw new Error(`no configuration matches --shapes ${shapesArg}; the shapes are ${[...new Set(opts.specs.map((s) => s.shape))].join(", ")}`);
  const gpuGiB = opts.gpuBytes / GiB;

  if (dry) {
    const records = runs.map((r, n) => ({ ...record(r, n, k, ""), status: "dry-run" as const }));
    if (argv.includes("--json")) {
      process.stdout.write(JSON.stringify({ gpu_gib: gpuGiB, runs: records }, null, 2) + "\n");
      return;
    }
    process.stdout.write(`${runs.length} runs (${runs.filter((r) => r.split === "fit").length} fit, ${runs.filter((r) => r.split === "held-out").length} held-out), GPU ${gpuGiB.toFixed(1)} GiB${gpus.length ? "" : " (no GPU visible: --gpu-memory or 80)"}, first-principles constants\n`);
    process.stdout.write(`${"#".padStart(3)}  ${"id".padEnd(42)} ${"split".padEnd(9)} ${"tokens".padStart(6)} ${"reserved".padStart(9)} ${"peak".padStart(7)} ${"host".padStart(6)}  phase           lane\n`);
    for (const r of records) {
      const p = r.predicted;
      const alone = runsAlone(p.peak_gib, p.host_gib, gpuGiB) ? "alone" : "shared";
      process.stdout.write(`${String(r.order + 1).padStart(3)}  ${r.id.padEnd(42)} ${r.split.padEnd(9)} ${String(r.plan_input.microBatch * r.plan_input.seqLen).padStart(6)} ${p.reserved_gib.toFixed(2).padStart(9)} ${p.peak_gib.toFixed(2).padStart(7)} ${p.host_gib.toFixed(1).padStart(6)}  ${p.phase.padEnd(15)} ${alone}\n`);
    }
    return;
  }

  if (!existsSync(join(opts.tokenizer, "tokenizer.json"))) throw new Error(`no tokenizer.json in ${opts.tokenizer}; set WHET_CALIB_TOKENIZER to a folder with tokenizer.json and tokenizer_config.json (SmolLM2-135M-Instruct's)`);
  const started = Date.now();
  const budgetEnd = started + opts.budgetS * 1000;
  const work = mkdtempSync(join(tmpdir(), "whet-calib-"));
  writeFileSync(join(work, "data.jsonl"), syntheticData());
  const env = { ...process.env, WHET_CACHE_DIR: join(work, "cache") };
  const extraConfig: Record<string, unknown> = device === "cpu" ? { bf16: false } : {};
  const argvOf = new Map<string, string[]>();
  const records: RunRecord[] = runs.map((r, n) => {
    const dir = join(work, r.id);
    const args = ["bin/whet.js", "train", join(dir, "whet.yaml"), "--json", "--nproc", "1", "--max-retries", "0", "--force", ...(device === "cpu" ? ["--device", "cpu"] : []), ...Object.entries(r.overrides).map(([key, v]) => `${key}=${v}`), `output_dir=${join(dir, "run")}`];
    argvOf.set(r.id, args);
    return record(r, n, k, `node ${args.join(" ")}`);
  });
  let hello: HelloEvent | null = null;
  const smi = device === "cuda" ? spawnSync("nvidia-smi", ["--query-gpu=driver_version", "--format=csv,noheader"], { encoding: "utf8", timeout: 15_000 }) : null;
  const driver = smi && smi.status === 0 ? smi.stdout.trim().split("\n")[0] ?? null : null;
  const write = (final: boolean) => {
    if (!opts.outFile) return;
    const out = {
      benchmark: "memory-calibration",
      date,
      complete: final,
      elapsed_s: (Date.now() - started) / 1000,
      budget_s: Number.isFinite(opts.budgetS) ? opts.budgetS : null,
      lanes: opts.lanes,
      note: NOTE,
      hardware: { gpus: gpus.map((g) => `${g.name} (${g.memoryMiB} MiB)`), driver, device: hello?.device ?? null, hostname: hello?.hostname ?? hostname(), cpus: availableParallelism(), host_mem_gib: totalmem() / GiB },
      versions: { ...(hello?.versions ?? {}), node: process.version },
      // What every run's workers had: whet train's default unless this process's environment set one.
      cuda_alloc_conf: process.env.PYTORCH_CUDA_ALLOC_CONF ?? process.env.PYTORCH_ALLOC_CONF ?? ALLOC_CONF,
      tokenizer: basename(opts.tokenizer),
      predictions: `${k.source.hardware} (${k.source.date})`,
      ...(mergeFile ? { merged: { from: basename(mergeFile), measured_now: records.map((r) => r.id) } } : {}),
      runs: mergeRuns(earlier, records),
      ...(final ? fitAndCompare(measurements(mergeRuns(earlier, records))) : {}),
    };
    mkdirSync(dirname(opts.outFile), { recursive: true });
    const tmp = `${opts.outFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(out, null, 2) + "\n");
    renameSync(tmp, opts.outFile);
  };
  write(false);

  const running = new Map<number, { promise: Promise<void>; claim: number; alone: boolean }>();
  for (const [n, run] of runs.entries()) {
    const rec = records[n]!;
    const p = rec.predicted;
    if (p.peak_gib > 1.05 * gpuGiB) {
      Object.assign(rec, { status: "skipped", error: `the planner predicts ${p.peak_gib.toFixed(1)} GiB, more than the GPU's ${gpuGiB.toFixed(1)} GiB` });
      continue;
    }
    if (p.host_gib * GiB > 0.8 * totalmem()) {
      Object.assign(rec, { status: "skipped", error: `needs ${p.host_gib.toFixed(1)} GiB of host RAM for the offloaded states; the machine has ${(totalmem() / GiB).toFixed(1)} GiB` });
      continue;
    }
    const alone = device === "cpu" || runsAlone(p.peak_gib, p.host_gib, gpuGiB);
    const claim = claimGiB(p.peak_gib);
    // In matrix order: wait until this run can share the GPU with those running, or runs alone.
    const blocked = () => {
      if (running.size === 0) return false;
      if (alone || running.size >= opts.lanes || [...running.values()].some((r) => r.alone)) return true;
      return [...running.values()].reduce((s, r) => s + r.claim, claim) > 0.9 * gpuGiB;
    };
    while (blocked() && Date.now() < budgetEnd) await Promise.race([...running.values()].map((r) => r.promise));
    if (Date.now() >= budgetEnd) {
      Object.assign(rec, { status: "not-run", error: `--budget-s ${opts.budgetS} was spent before it could start` });
      continue;
    }
    const dir = prepareRunDir(work, run, opts.tokenizer, extraConfig);
    const argvRun = argvOf.get(run.id)!;
    rec.started_at_s = (Date.now() - started) / 1000;
    process.stderr.write(`[${rec.started_at_s.toFixed(0)}s] ${run.id} (${run.split}): predicted ${p.reserved_gib.toFixed(2)} GiB reserved${alone ? ", alone" : ""}\n`);
    const promise = launch(argvRun, env, stepsOf(run), [{ at: budgetEnd, reason: "budget" }, { at: Date.now() + opts.runTimeoutS * 1000, reason: "timeout" }], join(dir, "run"))
      .then((r) => {
        const s = r.summary;
        hello ??= s.hello;
        // Plan what ran: the attention the run resolved to, and the loss the worker wrapped
        // (workers before the fused head report no fused_loss and computed the loss on whole logits).
        if (r.resolved && s.hello) {
          const wrapping = (r.resolved.wrapping ?? {}) as { fused_loss?: boolean };
          const attn = r.resolved.attn_implementation;
          const attention: PlanInput["attention"] = attn === "sdpa" ? "sdpa" : attn === "eager" ? "eager" : "flash";
          rec.plan_input = { ...rec.plan_input, attention, loss: wrapping.fused_loss === true ? "fused" : "chunked" };
          rec.predicted = predictedOf(rec.plan_input, k);
        }
        const status: RunRecord["status"] = r.stopReason === "budget" && s.status !== "ok" ? "killed-budget" : r.stopReason === "timeout" && s.status !== "ok" ? "killed-timeout" : s.status;
        rec.status = status;
        rec.wall_s = r.wallS;
        rec.stop_to_exit_s = r.stopToExitS;
        rec.resolved = r.resolved;
        const tokens = run.overrides.per_device_train_batch_size as number * (run.overrides.cutoff_len as number);
        rec.measured = {
          reserved_gib: s.reservedGiB,
          allocated_peak_gib: s.peakGiB,
          allocated_after_step_gib: s.allocatedGiB,
          tokens_max: s.maxTokens,
          fill: s.maxTokens === null ? null : s.maxTokens / tokens,
          steps: s.steps,
        };
        const why = status === "killed-budget" ? `killed: --budget-s ${opts.budgetS} ran out during the run` : status === "killed-timeout" ? `killed: no result within --run-timeout-s ${opts.runTimeoutS}` : null;
        rec.error = status === "ok" ? null : [why, s.error, r.stderrTail.trim() ? `stderr: ${r.stderrTail.trim().slice(-1500)}` : null].filter(Boolean).join("; ");
        if (r.leftovers.length) rec.error = `${rec.error ?? ""} worker pids ${r.leftovers.join(",")} still alive after the run`.trim();
        process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${run.id}: ${status} ${s.reservedGiB?.toFixed(2) ?? "-"} GiB reserved (predicted ${p.reserved_gib.toFixed(2)}), ${r.wallS.toFixed(0)} s\n`);
      })
      .catch((e: Error) => {
        rec.status = "failed";
        rec.error = `the runner failed: ${e.message}`;
      })
      .finally(() => {
        running.delete(n);
        if (!opts.keep) rmSync(dir, { recursive: true, force: true });
        write(false);
      });
    running.set(n, { promise, claim, alone });
  }
  await Promise.all([...running.values()].map((r) => r.promise));
  if (!opts.keep) rmSync(work, { recursive: true, force: true });
  write(true);
  const done = records.filter((r) => r.status === "ok");
  process.stderr.write(`${done.length} of ${records.length} runs measured (${done.filter((r) => r.split === "fit").length} fit, ${done.filter((r) => r.split === "held-out").length} held-out) in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote ${opts.outFile}\n`);
}

// ---------------------------------------------------------------------------------------------
// Fit, compare, and write the docs

interface ResultsFile {
  date: string;
  hardware: { gpus?: string[]; device?: string | null };
  versions: Record<string, string>;
  note?: string;
  runs: RunRecord[];
}

const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}%`;

function comparisonTable(c: Comparison, runs: Map<string, RunRecord>): string[] {
  const out = ["| run | tokens | predicted GiB | measured GiB | error | allocated: predicted / measured GiB |", "| --- | --- | --- | --- | --- | --- |"];
  for (const r of [...c.rows].sort((a, b) => a.id.localeCompare(b.id))) {
    const rec = runs.get(r.id);
    const tokens = rec ? rec.plan_input.microBatch * rec.plan_input.seqLen : 0;
    out.push(`| ${r.id} | ${tokens} | ${r.predictedGiB.toFixed(2)} | ${r.measuredGiB.toFixed(2)} | ${pct(r.errorPct)} | ${r.predictedAllocatedGiB.toFixed(2)} / ${r.measuredAllocatedGiB?.toFixed(2) ?? "-"} |`);
  }
  return out;
}

/** Runs whose attention took another path than configured: planned as they ran, and named. */
function fallbackNote(runs: RunRecord[]): string[] {
  const odd = runs.filter((r) => r.attention_path && r.status === "ok");
  if (odd.length === 0) return [];
  return [`Planned as they ran (\`attention_path\` in the results): ${odd.map((r) => r.id).join(", ")}: ${odd[0]!.attention_path}.`];
}

/** The calibration section of docs/memory.md, from a results file and its fit. */
export function renderCalibration(file: string, data: ResultsFile, report: CalibrationReport): string {
  const runs = new Map(data.runs.map((r) => [r.id, r]));
  const { before, after, train_after } = report.compare;
  const f = report.fit.constants;
  const other = data.runs.filter((r) => r.status !== "ok");
  const v = data.versions;
  return [
    `Measured on ${data.hardware.gpus?.join(", ") || data.hardware.device || "an unnamed GPU"}, ${data.date}: torch ${v.torch ?? "?"}, transformers ${v.transformers ?? "?"}, peft ${v.peft ?? "?"}, CUDA ${v.cuda ?? "?"} (\`${file}\`).`,
    `${data.runs.length} configurations planned, ${report.fit.train_ids.length} fit and ${report.fit.held_out_ids.length} held-out runs measured` + (other.length ? `; not measured: ${other.map((r) => `${r.id} (${r.status})`).join(", ")}.` : "."),
    "Every run has torch_compile=false (the memory of compiled blocks is not measured here, so not calibrated) and the default attention (varlen) unless its id ends in -sdpa.",
    ...fallbackNote(data.runs),
    "",
    `Held-out peak reserved memory: median |error| ${before.medianAbsErrorPct.toFixed(1)}% → **${after.medianAbsErrorPct.toFixed(1)}%**, worst ${before.worstAbsErrorPct.toFixed(1)}% → **${after.worstAbsErrorPct.toFixed(1)}%** (${after.worstId}), first principles → fitted. On the fit runs themselves: median ${train_after.medianAbsErrorPct.toFixed(1)}%, worst ${train_after.worstAbsErrorPct.toFixed(1)}%.`,
    "",
    `Fitted (${report.fit.knobs.length} factors): activation factor ${f.activationFactor.none.toFixed(3)} (saved bytes, measured / counted), one block's backward temporaries ${f.activationFactor.backward.toFixed(3)} of its saved bytes, loss chunk scratch ${f.lossChunkScratchBytes.toFixed(2)} bytes per element, fragmentation ${f.fragmentation.churn.toFixed(3)} (activations and default-stream gradients), ${f.fragmentation.logits.toFixed(3)} (loss chunks) and ${f.fragmentation.buffers.toFixed(3)} (FSDP2's default-stream buffers), runtime ${(f.runtimeBytes / GiB).toFixed(3)} GiB allocated and ${(f.reserveSlackBytes / GiB).toFixed(3)} GiB more reserved.`,
    "",
    "#### Held-out runs (fitted constants)",
    "",
    ...comparisonTable(after, runs),
    "",
    "#### Fit runs (fitted constants)",
    "",
    ...comparisonTable(train_after, runs),
  ].join("\n");
}

const CAL_START = "<!-- generated by bench/calibrate-memory.ts: start -->";
const CAL_END = "<!-- generated by bench/calibrate-memory.ts: end -->";

export function spliceCalibration(doc: string, section: string): string {
  return spliceBetween(doc, CAL_START, CAL_END, section);
}

/** The calibrated.ts source recording a fit. */
export function calibratedSource(c: Calibration): string {
  return [
    "// Written by `node --import tsx bench/calibrate-memory.ts fit RESULTS.json --write`: the planner's",
    "// fitted factors (src/plan/constants.ts) and the measurements they came from. null: none yet, the",
    "// planner runs on first principles.",
    'import type { Calibration } from "./constants.ts";',
    "",
    `export const CALIBRATION: Calibration | null = ${JSON.stringify(c, null, 2)};`,
    "",
  ].join("\n");
}

function refit(file: string, write: boolean) {
  const data = JSON.parse(readFileSync(file, "utf8")) as ResultsFile;
  if (!Array.isArray(data.runs)) throw new Error(`${file} has no runs array; is it a memory-calibration results file?`);
  const ms = measurements(data.runs);
  const report = fitAndCompare(ms);
  const { before, after, train_after } = report.compare;
  if (report.fit.train_ids.length === 0) throw new Error(`${file}: no completed fit run to fit on (${ms.length} runs measured)`);
  process.stdout.write(
    `fit on ${report.fit.train_ids.length} runs (rms ${report.fit.rms_error_pct.toFixed(2)}%, ${KNOBS.length} factors), held out ${after.n}:\n` +
      `  held-out median |error| ${before.medianAbsErrorPct.toFixed(2)}% -> ${after.medianAbsErrorPct.toFixed(2)}%, worst ${before.worstAbsErrorPct.toFixed(2)}% -> ${after.worstAbsErrorPct.toFixed(2)}% (${after.worstId})\n` +
      `  fit runs with the fitted factors: median ${train_after.medianAbsErrorPct.toFixed(2)}%, worst ${train_after.worstAbsErrorPct.toFixed(2)}% (${train_after.worstId})\n`,
  );
  for (const r of after.rows) process.stdout.write(`  held-out ${r.id.padEnd(44)} ${r.predictedGiB.toFixed(2).padStart(7)} vs ${r.measuredGiB.toFixed(2).padStart(7)} GiB  ${pct(r.errorPct)}\n`);
  process.stdout.write(JSON.stringify(report.fit.constants, null, 2) + "\n");
  if (!write) return;
  const rel = relative(REPO, file);
  writeFileSync(file, JSON.stringify({ ...data, ...report }, null, 2) + "\n");
  const gpu = data.hardware.gpus?.[0] ?? data.hardware.device ?? "unknown GPU";
  const v = data.versions;
  const calibration: Calibration = {
    source: {
      hardware: gpu,
      versions: `torch ${v.torch ?? "?"}, transformers ${v.transformers ?? "?"}, peft ${v.peft ?? "?"}, CUDA ${v.cuda ?? "?"}`,
      date: data.date,
      note: `Fitted on the ${report.fit.train_ids.length} fit runs of ${rel}; held-out median |error| ${after.medianAbsErrorPct.toFixed(1)}%, worst ${after.worstAbsErrorPct.toFixed(1)}%.`,
    },
    results: rel,
    factors: report.fit.constants,
  };
  writeFileSync(join(REPO, "src", "plan", "calibrated.ts"), calibratedSource(calibration));
  const doc = readFileSync(DOC_PATH, "utf8");
  const withTables = spliceTables(doc, renderTables(withCalibration(FIRST_PRINCIPLES, calibration)));
  writeFileSync(DOC_PATH, spliceCalibration(withTables, renderCalibration(rel, data, report)));
  process.stdout.write(`wrote the fit into ${rel}, src/plan/calibrated.ts and docs/memory.md\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [mode, ...rest] = process.argv.slice(2);
  const main = async () => {
    if (mode === "run") await runMatrix(rest);
    else if (mode === "fit" && rest[0] && !rest[0].startsWith("--")) refit(rest[0], rest.includes("--write"));
    else throw new Error("usage: calibrate-memory.ts run [--dry-run [--json]] [--smoke] [--budget-s S] [--lanes N] [--out DIR] [--shapes 135m,1b] | fit RESULTS.json [--write]");
  };
  main().catch((e: Error) => {
    process.stderr.write(`calibrate-memory: ${e.message}\n`);
    process.exit(1);
  });
}

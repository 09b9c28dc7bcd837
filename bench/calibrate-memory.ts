// Measures real peak memory to calibrate the planner (src/plan/constants.ts), on a GPU machine:
//
//   WHET_CALIB_TOKENIZER=/path/to/SmolLM2-135M-Instruct node --import tsx bench/calibrate-memory.ts run [--shapes 135m,1b] [--dry-run] [--budget-s S] [--out DIR]
//   (--dry-run prints the commands and predictions as JSON and runs nothing)
//   node --import tsx bench/calibrate-memory.ts fit bench/results/memory-calibration-<date>.json
//
// `run` writes random-weight models (config.json + the tokenizer files) and a synthetic dataset
// into a temp folder, runs `whet train --json` with max_steps=3 over methods × checkpointing ×
// tokens per micro-batch × shapes (skipping what the planner says cannot fit), reads the step
// events' mem_reserved_gib / mem_peak_gib, and writes bench/results/memory-calibration-<date>.json
// with hardware, versions, exact commands, then the fit and the held-out comparison.
// The pure parts (matrix, config text, event summary) are exported and tested on CPU.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEventLine, type WhetEvent } from "../src/events/schema.ts";
import { visibleGpus } from "../src/launch/hardware.ts";
import { compare, fitConstants, splitHeldOut, type Measurement } from "../src/plan/calibrate.ts";
import { planInputFromConfig } from "../src/plan/from-config.ts";
import { planRun, type PlanInput } from "../src/plan/planner.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const GiB = 1024 ** 3;

/** config.json fields of the calibration shapes: 135M to 8B, all Llama-architecture. */
export const SHAPES: Record<string, Record<string, unknown>> = {
  "135m": { hidden_size: 576, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, intermediate_size: 1536, vocab_size: 49152, tie_word_embeddings: true },
  "360m": { hidden_size: 960, num_hidden_layers: 32, num_attention_heads: 15, num_key_value_heads: 5, intermediate_size: 2560, vocab_size: 49152, tie_word_embeddings: true },
  "1b": { hidden_size: 2048, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, tie_word_embeddings: true },
  "3b": { hidden_size: 3072, num_hidden_layers: 28, num_attention_heads: 24, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, tie_word_embeddings: true },
  "8b": { hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256, tie_word_embeddings: false },
};

export function modelConfigJson(shape: string): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_act: "silu", rms_norm_eps: 1e-5, rope_theta: 500000,
    max_position_embeddings: 8192, attention_bias: false, mlp_bias: false, torch_dtype: "bfloat16", ...SHAPES[shape],
  };
}

export interface CalibRun {
  id: string;
  shape: string;
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
  seed: 0,
};

/** methods × checkpointing × tokens per micro-batch × shapes, plus eager attention on two shapes. */
export function buildMatrix(shapes: string[]): CalibRun[] {
  const runs: CalibRun[] = [];
  for (const shape of shapes) {
    for (const finetuning_type of ["full", "lora"]) {
      for (const gradient_checkpointing of [false, true]) {
        for (const [cutoff_len, micro] of [[512, 1], [2048, 1], [2048, 4]] as const) {
          const id = `${shape}-${finetuning_type}-gc${gradient_checkpointing ? 1 : 0}-${micro}x${cutoff_len}`;
          runs.push({ id, shape, overrides: { finetuning_type, gradient_checkpointing, cutoff_len, per_device_train_batch_size: micro } });
        }
      }
    }
    if (shape === "135m" || shape === "1b") {
      runs.push({ id: `${shape}-lora-gc0-1x2048-eager`, shape, overrides: { finetuning_type: "lora", gradient_checkpointing: false, cutoff_len: 2048, per_device_train_batch_size: 1, attn_implementation: "eager" } });
    }
  }
  return runs;
}

export function configYaml(c: Record<string, unknown>): string {
  return Object.entries(c).map(([k, v]) => `${k}: ${typeof v === "string" ? JSON.stringify(v) : String(v)}`).join("\n") + "\n";
}

export function planInputFor(run: CalibRun, world = 1): PlanInput {
  return planInputFromConfig({ ...BASE_CONFIG, ...run.overrides }, modelConfigJson(run.shape), world).input;
}

export interface RunSummary {
  status: "ok" | "oom" | "failed";
  reservedGiB: number | null;
  peakGiB: number | null;
  allocatedGiB: number | null;
  hello: Extract<WhetEvent, { type: "hello" }> | null;
  error: string | null;
}

/** Reads `whet train --json` stdout: the largest memory figures over the steps, and errors. */
export function summarizeEvents(stdout: string): RunSummary {
  const events = stdout.split("\n").filter(Boolean).map(parseEventLine).flatMap((p) => (p.ok ? [p.event] : []));
  const steps = events.flatMap((e) => (e.type === "step" ? [e] : []));
  const hello = events.find((e): e is Extract<WhetEvent, { type: "hello" }> => e.type === "hello" && e.rank === 0) ?? null;
  const error = events.find((e) => e.type === "error");
  const max = (f: (s: (typeof steps)[number]) => number) => (steps.length ? Math.max(...steps.map(f)) : null);
  const status = error ? (error.type === "error" && error.code === "OOM" ? "oom" : "failed") : steps.length ? "ok" : "failed";
  return {
    status,
    reservedGiB: max((s) => s.mem_reserved_gib),
    peakGiB: max((s) => s.mem_peak_gib),
    allocatedGiB: max((s) => s.mem_allocated_gib),
    hello,
    error: error?.type === "error" ? `${error.code}: ${error.message}` : steps.length ? null : "no step events",
  };
}

/** Runs whose measurement counts: completed, with a reserved figure. */
export function measurements(runs: Array<{ id: string; status: string; plan_input: PlanInput; measured: { reserved_gib: number | null } }>): Measurement[] {
  return runs.flatMap((r) => (r.status === "ok" && r.measured.reserved_gib !== null ? [{ id: r.id, input: r.plan_input, reservedGiB: r.measured.reserved_gib }] : []));
}

export function fitAndCompare(ms: Measurement[]) {
  const { train, heldOut } = splitHeldOut(ms);
  const fitted = fitConstants(train);
  return {
    fit: { constants: fitted.constants, train_ids: train.map((m) => m.id), held_out_ids: heldOut.map((m) => m.id), train_sse_gib2: fitted.sse },
    compare: { before: compare(heldOut), after: compare(heldOut, fitted.constants) },
  };
}

function writeSyntheticData(file: string, samples = 400) {
  // Deterministic filler text: enough packed tokens for several 4 × 2048-token micro-batches.
  const words = "the model learns memory planning from measured runs of several shapes and batch sizes on one device".split(" ");
  let x = 12345;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  const lines: string[] = [];
  for (let n = 0; n < samples; n++) {
    const text = Array.from({ length: 300 }, () => words[next() % words.length]).join(" ");
    lines.push(JSON.stringify({ messages: [{ role: "user", content: `Sample ${n}.` }, { role: "assistant", content: text }] }));
  }
  writeFileSync(file, lines.join("\n") + "\n");
}

function runMatrix(argv: string[]) {
  const tokenizer = process.env.WHET_CALIB_TOKENIZER;
  if (!tokenizer || !existsSync(join(tokenizer, "tokenizer.json"))) throw new Error("set WHET_CALIB_TOKENIZER to a folder with tokenizer.json and tokenizer_config.json");
  const shapesArg = argv[argv.indexOf("--shapes") + 1];
  const shapes = argv.includes("--shapes") && shapesArg ? shapesArg.split(",") : Object.keys(SHAPES);
  const dry = argv.includes("--dry-run");
  // --budget-s S: start no run after S seconds (the rest are recorded as not run); --out DIR.
  const budgetS = argv.includes("--budget-s") ? Number(argv[argv.indexOf("--budget-s") + 1]) : Infinity;
  const outDir = argv.includes("--out") ? argv[argv.indexOf("--out") + 1]! : join(REPO, "bench", "results");
  const started = Date.now();
  const gpus = visibleGpus();
  const gpuBytes = gpus.length ? Math.min(...gpus.map((g) => g.memoryMiB)) * 1024 ** 2 : 80 * GiB;
  const work = mkdtempSync(join(tmpdir(), "whet-calib-"));
  writeSyntheticData(join(work, "data.jsonl"));
  const results: Record<string, unknown>[] = [];
  let hello: RunSummary["hello"] = null;
  for (const run of buildMatrix(shapes)) {
    const dir = join(work, run.id);
    mkdirSync(join(dir, "model"), { recursive: true });
    writeFileSync(join(dir, "model", "config.json"), JSON.stringify(modelConfigJson(run.shape), null, 2));
    for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
      if (existsSync(join(tokenizer, f))) copyFileSync(join(tokenizer, f), join(dir, "model", f));
    }
    copyFileSync(join(work, "data.jsonl"), join(dir, "data.jsonl"));
    writeFileSync(join(dir, "whet.yaml"), configYaml(BASE_CONFIG));
    const input = planInputFor(run);
    const plan = planRun(input);
    const args = ["bin/whet.js", "train", join(dir, "whet.yaml"), "--json", "--nproc", "1", ...Object.entries(run.overrides).map(([k, v]) => `${k}=${v}`), `output_dir=${join(dir, "run")}`];
    const record = { id: run.id, shape: run.shape, command: `node ${args.join(" ")}`, overrides: run.overrides, plan_input: input, predicted_reserved_gib: plan.reservedPeak / GiB, predicted_peak_gib: plan.peak.total / GiB };
    if ((Date.now() - started) / 1000 > budgetS) {
      results.push({ ...record, status: "not-run", measured: { reserved_gib: null, peak_gib: null }, error: `--budget-s ${budgetS} spent` });
      continue;
    }
    if (plan.peak.total > 1.3 * gpuBytes || dry) {
      results.push({ ...record, status: dry ? "dry-run" : "skipped", measured: { reserved_gib: null, peak_gib: null }, error: dry ? null : "the planner predicts it cannot fit" });
      continue;
    }
    process.stderr.write(`${run.id}: predicted ${(plan.reservedPeak / GiB).toFixed(2)} GiB reserved... `);
    const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: "utf8", maxBuffer: 64 * 1024 ** 2, timeout: 1_800_000 });
    const s = summarizeEvents(r.stdout ?? "");
    hello ??= s.hello;
    process.stderr.write(`${s.status} ${s.reservedGiB?.toFixed(2) ?? "-"} GiB\n`);
    results.push({ ...record, status: s.status, measured: { reserved_gib: s.reservedGiB, peak_gib: s.peakGiB, allocated_gib: s.allocatedGiB }, error: s.error ?? (r.status === 0 ? null : (r.stderr ?? "").slice(-2000)) });
    rmSync(dir, { recursive: true, force: true }); // exports of large shapes would fill the disk
  }
  rmSync(work, { recursive: true, force: true });
  const date = new Date().toISOString().slice(0, 10);
  const out = {
    benchmark: "memory-calibration",
    date,
    hardware: { gpus: gpus.map((g) => `${g.name} (${g.memoryMiB} MiB)`), device: hello?.device ?? null, hostname: hello?.hostname ?? null },
    versions: { ...(hello?.versions ?? {}), node: process.version },
    tokenizer,
    runs: results,
    ...fitAndCompare(measurements(results as Parameters<typeof measurements>[0])),
  };
  if (dry) {
    process.stdout.write(JSON.stringify(out, null, 2) + "\n"); // a dry run records nothing
    return;
  }
  const file = join(outDir, `memory-calibration-${date}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  process.stderr.write(`wrote ${file}\n`);
}

function refit(file: string) {
  const data = JSON.parse(readFileSync(file, "utf8"));
  const r = fitAndCompare(measurements(data.runs));
  const { before, after } = r.compare;
  process.stdout.write(`held-out ${after.n} runs: median |error| ${before.medianAbsErrorGiB.toFixed(2)} -> ${after.medianAbsErrorGiB.toFixed(2)} GiB, worst ${before.worstAbsErrorGiB.toFixed(2)} -> ${after.worstAbsErrorGiB.toFixed(2)} GiB (${after.worstId})\n`);
  process.stdout.write(JSON.stringify(r.fit.constants, null, 2) + "\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === "run") runMatrix(rest);
  else if (mode === "fit" && rest[0]) refit(rest[0]);
  else throw new Error("usage: calibrate-memory.ts run [--shapes 135m,1b] [--dry-run] | fit RESULTS.json");
}

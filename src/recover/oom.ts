// After an out-of-memory: the next setting to try, keeping the global batch. Pure.
// The ladder, each rung saving more memory and costing more time than the one before:
//   1. half the micro-batch, twice the accumulation (repeated down to 1 row);
//   2. more activation checkpointing (none -> selective/4 -> selective/2 -> full);
//   3. a higher sharding stage (zero1 -> zero2 -> zero3; several processes only);
//   4. offload (optimizer, then parameters and optimizer; with zero3).
// When the planner can price the settings (a GPU run), rungs it predicts to save nothing are
// skipped, and with the GPU's size known it jumps to the first rung predicted to fit.
import type { Checkpointing } from "../plan/activations.ts";
import type { Offload, Stage } from "../plan/states.ts";
import type { RunSpec } from "../spec/runspec.ts";
import { planInputFromConfig } from "../plan/from-config.ts";
import { planRun } from "../plan/planner.ts";

export interface MemorySetting {
  microBatch: number;
  accumulation: number;
  checkpointing: Checkpointing;
  sharding: Stage;
  offload: Offload;
}

export function settingOfSpec(spec: RunSpec): MemorySetting {
  const ac = (spec.train as { activation_checkpointing?: { mode: string; every: number } }).activation_checkpointing;
  const legacy = (spec.train as { gradient_checkpointing?: boolean }).gradient_checkpointing;
  const checkpointing: Checkpointing =
    ac?.mode === "selective" ? { mode: "selective", every: ac.every } : ac?.mode === "full" || (!ac && legacy) ? { mode: "full" } : { mode: "none" };
  const d = spec.distributed as { strategy: string; offload?: Offload };
  return {
    microBatch: spec.train.micro_batch_size,
    accumulation: spec.train.gradient_accumulation_steps,
    checkpointing,
    sharding: d.strategy === "ddp" ? "none" : (d.strategy as Stage),
    offload: d.offload ?? "none",
  };
}

const strength = (c: Checkpointing) => (c.mode === "none" ? 0 : c.mode === "full" ? 1 : 1 / c.every);
const STRONGER: Checkpointing[] = [{ mode: "selective", every: 4 }, { mode: "selective", every: 2 }, { mode: "full" }];
const STAGES: Stage[] = ["none", "zero1", "zero2", "zero3"];

/** Every setting after `from`, cumulative: rung k applies rungs 1..k. */
export function ladder(from: MemorySetting, world: number): MemorySetting[] {
  const out: MemorySetting[] = [];
  let cur = from;
  const push = (next: Partial<MemorySetting>) => {
    cur = { ...cur, ...next };
    out.push(cur);
  };
  const rows = from.microBatch * from.accumulation;
  while (cur.microBatch > 1) {
    let m = Math.floor(cur.microBatch / 2);
    while (rows % m !== 0) m -= 1;
    push({ microBatch: m, accumulation: rows / m });
  }
  for (const c of STRONGER) if (strength(c) > strength(cur.checkpointing)) push({ checkpointing: c });
  if (world > 1) for (const s of STAGES) if (STAGES.indexOf(s) > STAGES.indexOf(cur.sharding)) push({ sharding: s });
  if (cur.offload === "none") push({ offload: "optimizer", sharding: world > 1 ? cur.sharding : "zero3" });
  if (cur.offload !== "params+optimizer") push({ offload: "params+optimizer", sharding: "zero3" });
  return out;
}

export function checkpointingName(c: Checkpointing): string {
  return c.mode === "selective" ? `selective/${c.every}` : c.mode;
}

const shardingName = (s: Stage) => (s === "none" ? "ddp" : s);

/** What changed, in words: "micro-batch 2 -> 1 with accumulation 2 -> 4 (8 rows per step kept)". */
export function describeChange(a: MemorySetting, b: MemorySetting, world: number): string[] {
  const out: string[] = [];
  if (a.microBatch !== b.microBatch) {
    out.push(
      `micro-batch ${a.microBatch} -> ${b.microBatch} with accumulation ${a.accumulation} -> ${b.accumulation} (global batch ${b.microBatch * b.accumulation * world} rows kept)`,
    );
  }
  if (checkpointingName(a.checkpointing) !== checkpointingName(b.checkpointing)) {
    out.push(`activation checkpointing ${checkpointingName(a.checkpointing)} -> ${checkpointingName(b.checkpointing)}`);
  }
  if (a.sharding !== b.sharding) out.push(`sharding ${shardingName(a.sharding)} -> ${shardingName(b.sharding)}`);
  if (a.offload !== b.offload) out.push(`offload ${a.offload} -> ${b.offload}`);
  return out;
}

/** Config overrides (key=value, as on the command line) that turn `a` into `b`. */
export function overridesFor(a: MemorySetting, b: MemorySetting): string[] {
  const out: string[] = [];
  if (a.microBatch !== b.microBatch || a.accumulation !== b.accumulation) {
    out.push(`per_device_train_batch_size=${b.microBatch}`, `gradient_accumulation_steps=${b.accumulation}`);
  }
  if (checkpointingName(a.checkpointing) !== checkpointingName(b.checkpointing)) out.push(`gradient_checkpointing=${checkpointingName(b.checkpointing)}`);
  if (a.sharding !== b.sharding) out.push(`sharding=${shardingName(b.sharding)}`);
  if (a.offload !== b.offload) out.push(`offload=${b.offload}`);
  return out;
}

export interface OomChoice {
  setting: MemorySetting;
  changes: string[];
  overrides: string[];
  /** How the planner weighed in, for the message; empty without a planner. */
  why: string[];
}

export interface NextOptions {
  world: number;
  /** Predicted peak bytes per GPU of a setting, or null when the planner cannot price it. */
  predict?: (s: MemorySetting) => number | null;
  /** The GPU's memory, from the OOM event (mem_total_gib), when known. */
  memTotalBytes?: number | null;
  /** Fraction of the GPU kept free when deciding what fits. */
  margin?: number;
}

export function nextOomSetting(from: MemorySetting, opts: NextOptions): OomChoice | null {
  const rungs = ladder(from, opts.world);
  if (rungs.length === 0) return null;
  const choose = (setting: MemorySetting, why: string[]): OomChoice => ({
    setting,
    changes: describeChange(from, setting, opts.world),
    overrides: overridesFor(from, setting),
    why,
  });
  const p0 = opts.predict?.(from) ?? null;
  if (p0 === null || p0 <= 0) return choose(rungs[0]!, []);
  const priced = rungs.map((r) => ({ r, p: opts.predict!(r) }));
  const helpful = priced.filter((x) => x.p !== null && x.p < p0 * 0.99);
  const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
  if (helpful.length === 0) return choose(rungs[0]!, ["the planner predicts no saving from any setting; trying the next one anyway"]);
  const total = opts.memTotalBytes ?? null;
  if (total !== null && total > 0) {
    // The OOM proves the real peak passed the GPU's size: scale the planner's numbers up to that.
    const scale = Math.max(1, total / p0);
    const usable = total * (1 - (opts.margin ?? 0.05));
    const fits = helpful.find((x) => x.p! * scale <= usable);
    if (fits) return choose(fits.r, [`predicted ${gib(fits.p! * scale)} of ${gib(total)}${scale > 1 ? ` (the planner's number scaled ×${scale.toFixed(2)} by the observed OOM)` : ""}`]);
  }
  const first = helpful[0]!;
  const skipped = priced.indexOf(first);
  return choose(first.r, [`predicted ${gib(first.p!)} against ${gib(p0)} before${skipped > 0 ? `; ${skipped} setting(s) that save nothing skipped` : ""}`]);
}

/** The planner's predicted peak bytes per GPU of each setting of this run, null where it cannot. */
export function plannerPredict(config: Record<string, unknown>, modelConfig: Record<string, unknown>, world: number): (s: MemorySetting) => number | null {
  return (s) => {
    try {
      const { input } = planInputFromConfig(config, modelConfig, world);
      return planRun({ ...input, microBatch: s.microBatch, gradientAccumulation: s.accumulation, checkpointing: s.checkpointing, stage: s.sharding, offload: s.offload }).peak.total;
    } catch {
      return null;
    }
  };
}

// fitRun: search micro-batch (global batch kept), checkpointing, sharding and offload for the
// fastest setting whose predicted peak fits the GPU with a margin.
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import type { Checkpointing } from "./activations.ts";
import { planRun, type Plan, type PlanInput } from "./planner.ts";
import { estimateSpeed, type SpeedEstimate } from "./speed.ts";
import { stageLevel, type Offload, type Stage } from "./states.ts";

export interface FitOptions {
  gpuMemoryBytes: number;
  /** Fraction of GPU memory kept free, 0.1 = plan for 90%. */
  margin: number;
  constants?: PlanConstants;
}

export interface Candidate {
  microBatch: number;
  gradientAccumulation: number;
  checkpointing: Checkpointing;
  stage: Stage;
  offload: Offload;
  plan: Plan;
  speed: SpeedEstimate;
  fits: boolean;
}

export interface FitResult {
  /** micro × accumulation × GPUs, the same for every candidate. */
  globalRows: number;
  usableBytes: number;
  /** Fitting candidates, fastest first. Empty when nothing fits. */
  fitting: Candidate[];
  best: Candidate | null;
  /** When nothing fits: the candidate needing the least memory, to say by how much it misses. */
  smallest: Candidate;
  searched: number;
}

export const CHECKPOINTING_CANDIDATES: Checkpointing[] = [{ mode: "none" }, { mode: "selective", every: 4 }, { mode: "selective", every: 2 }, { mode: "full" }];

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

/** Sharding and offload pairs worth trying; on one GPU zero1/zero2 equal plain DDP. */
export function shardingCandidates(world: number): Array<{ stage: Stage; offload: Offload }> {
  const stages: Stage[] = world > 1 ? ["none", "zero1", "zero2", "zero3"] : ["none", "zero3"];
  const out: Array<{ stage: Stage; offload: Offload }> = [];
  for (const stage of stages) {
    out.push({ stage, offload: "none" });
    if (stage !== "none") out.push({ stage, offload: "optimizer" });
    if (stage === "zero3") out.push({ stage, offload: "params+optimizer" });
  }
  return out;
}

export function fitRun(base: PlanInput, opts: FitOptions): FitResult {
  const k = opts.constants ?? DEFAULT_CONSTANTS;
  const globalRows = base.microBatch * base.gradientAccumulation * base.world;
  const usableBytes = opts.gpuMemoryBytes * (1 - opts.margin);
  const all: Candidate[] = [];
  for (const microBatch of divisors(globalRows / base.world)) {
    const gradientAccumulation = globalRows / base.world / microBatch;
    for (const checkpointing of CHECKPOINTING_CANDIDATES) {
      for (const { stage, offload } of shardingCandidates(base.world)) {
        const input: PlanInput = { ...base, microBatch, gradientAccumulation, checkpointing, stage, offload };
        const plan = planRun(input, k);
        all.push({ microBatch, gradientAccumulation, checkpointing, stage, offload, plan, speed: estimateSpeed(plan, k), fits: plan.peak.total <= usableBytes });
      }
    }
  }
  // Equal speed (one GPU has no collectives): prefer the simpler setting, then the smaller peak.
  const simplicity = (c: Candidate) => stageLevel(c.stage) + (c.offload === "none" ? 0 : 10);
  const fitting = all
    .filter((c) => c.fits)
    .sort((a, b) => a.speed.stepSeconds - b.speed.stepSeconds || simplicity(a) - simplicity(b) || a.plan.peak.total - b.plan.peak.total);
  const smallest = all.reduce((a, b) => (b.plan.peak.total < a.plan.peak.total ? b : a));
  return { globalRows, usableBytes, fitting, best: fitting[0] ?? null, smallest, searched: all.length };
}

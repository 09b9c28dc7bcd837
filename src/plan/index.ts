// The planner's public face: what `whet plan` and, before launch, `whet train` call.
// Everything here is pure; the command (src/cli/commands/plan.ts) reads the files.
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import { planInputFromConfig } from "./from-config.ts";
import { planRun, type Plan } from "./planner.ts";

export { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
export { shapeFromConfig, countParams, loraParams, KNOWN_SHAPES, type ModelShape, type ParamCounts } from "./shape.ts";
export { modelStates, DEEPSPEED_MIXED, trainableLayout, frozenWorkerLayout, placeStates, type Stage, type Offload, type StateLayout, type WorkerLayout } from "./states.ts";
export { planRun, COMPONENTS, type Plan, type PlanInput, type Method, type Breakdown, type Phase } from "./planner.ts";
export { planInference, type InferenceInput, type InferencePlan } from "./inference.ts";
export { fitRun, type FitResult, type Candidate, type FitOptions } from "./fit.ts";
export { estimateSpeed, type SpeedEstimate } from "./speed.ts";
export { planInputFromConfig } from "./from-config.ts";
export { compare, fitConstants, type Measurement } from "./calibrate.ts";
export { renderPlan, renderFit, planJson } from "./render.ts";

export interface Preflight {
  plan: Plan;
  fits: boolean;
  notes: string[];
  /** One line for the launch notes: "memory: 35.20 GiB per GPU predicted (backward) of 80.00 GiB, fits". */
  summary: string;
}

/** For `whet train` before launch: the plan of a loaded config and whether it fits the GPUs. */
export function preflight(
  config: Record<string, unknown>,
  modelConfig: Record<string, unknown>,
  opts: { world: number; gpuMemoryBytes: number; margin?: number; constants?: PlanConstants },
): Preflight {
  const { input, notes } = planInputFromConfig(config, modelConfig, opts.world);
  const plan = planRun(input, opts.constants ?? DEFAULT_CONSTANTS);
  const usable = opts.gpuMemoryBytes * (1 - (opts.margin ?? 0.1));
  const fits = plan.peak.total <= usable;
  const gib = (b: number) => (b / 1024 ** 3).toFixed(2);
  const summary = `memory: ${gib(plan.peak.total)} GiB per GPU predicted (${plan.phase}) of ${gib(opts.gpuMemoryBytes)} GiB, ${fits ? "fits" : "may NOT fit; run 'whet plan CONFIG --fit'"}`;
  return { plan, fits, notes, summary };
}

// What `whet train` asks the planner before launch on GPUs: fill `sharding: auto` (and `offload`
// when the user left it) and `gradient_checkpointing: auto` with the fastest setting that fits at
// the user's micro-batch and accumulation (and checkpointing, unless auto), then refuse a run
// predicted not to fit, with the numbers and the nearest setting that does, unless the user
// insists. Pure: the caller reads the files.
import { WhetError } from "../errors.ts";
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";
import type { Checkpointing } from "./activations.ts";
import { fitRun } from "./fit.ts";
import { planInputFromConfig } from "./from-config.ts";
import { planRun, type Plan } from "./planner.ts";
import { applyLine, settingsLabel } from "./render.ts";
import { defaultSharding, type Offload, type Stage } from "./states.ts";

export interface TrainPreflightOptions {
  world: number;
  /** Memory of the smallest visible GPU. */
  gpuMemoryBytes: number;
  /** Fraction kept free; 0.1 plans for 90% of the GPU. */
  margin?: number;
  /** Launch even when the plan says it will not fit. */
  insist?: boolean;
  /** Keys the user wrote: a written `offload` is kept, an unwritten one may be chosen. */
  given?: ReadonlySet<string>;
  constants?: PlanConstants;
}

export interface TrainPreflight {
  plan: Plan;
  fits: boolean;
  /** Values chosen for keys left to the planner, as config overrides. */
  chosen: { sharding?: "ddp" | Exclude<Stage, "none">; offload?: Offload; gradient_checkpointing?: string };
  /** Lines for the launch notes. */
  notes: string[];
}

const GiB = 1024 ** 3;
const gib = (b: number) => (b / GiB).toFixed(2);
const shardingKey = (s: Stage) => (s === "none" ? "ddp" : s);

export function trainPreflight(config: Record<string, unknown>, modelConfig: Record<string, unknown>, opts: TrainPreflightOptions): TrainPreflight {
  const k = opts.constants ?? DEFAULT_CONSTANTS;
  const margin = opts.margin ?? 0.1;
  const usable = opts.gpuMemoryBytes * (1 - margin);
  const chosen: TrainPreflight["chosen"] = {};
  const notes: string[] = [];
  let effective = config;

  const shardingFree = config.sharding === "auto" || config.sharding === undefined;
  const checkpointingFree = config.gradient_checkpointing === "auto" || config.gradient_checkpointing === undefined;
  if (shardingFree || checkpointingFree) {
    const { input } = planInputFromConfig(config, modelConfig, opts.world);
    const fit = fitRun(input, { gpuMemoryBytes: opts.gpuMemoryBytes, margin, constants: k });
    const offloadFree = shardingFree && !opts.given?.has("offload");
    const fixedStage = shardingFree ? null : planInputFromConfig(config, modelConfig, opts.world).input.stage;
    const same = fit.fitting.find(
      (c) =>
        c.microBatch === input.microBatch &&
        (checkpointingFree ||
          (c.checkpointing.mode === input.checkpointing.mode &&
            (c.checkpointing.mode !== "selective" || input.checkpointing.mode !== "selective" || c.checkpointing.every === input.checkpointing.every))) &&
        (fixedStage === null || c.stage === fixedStage) &&
        (offloadFree || c.offload === input.offload),
    );
    const what = [shardingFree ? "sharding" : "", checkpointingFree ? "gradient_checkpointing" : ""].filter(Boolean).join(" and ");
    if (same) {
      if (shardingFree) chosen.sharding = shardingKey(same.stage);
      if (offloadFree) chosen.offload = same.offload;
      if (checkpointingFree) chosen.gradient_checkpointing = checkpointingKey(same.checkpointing);
      notes.push(`${what} auto: ${settingsLabel(same)} is the fastest setting predicted to fit at this micro-batch`);
    } else {
      // Nothing fits as configured: keep the default rules (full checkpointing); the check below refuses.
      if (shardingFree) chosen.sharding = defaultSharding(opts.world, config.finetuning_type);
      if (checkpointingFree) chosen.gradient_checkpointing = "full";
    }
    effective = { ...config, ...chosen };
  }

  const { input, notes: assumed } = planInputFromConfig(effective, modelConfig, opts.world);
  const plan = planRun(input, k);
  const fits = plan.peak.total <= usable;
  notes.push(...assumed.map((n) => `memory plan: ${n}`));
  const line = `memory: ${gib(plan.peak.total)} GiB per GPU predicted (peak in ${plan.phase}) of ${gib(opts.gpuMemoryBytes)} GiB with ${Math.round(margin * 100)}% kept free`;
  if (fits) {
    notes.push(`${line}: fits`);
    return { plan, fits, chosen, notes };
  }
  if (opts.insist) {
    notes.push(`${line}: predicted NOT to fit; launching anyway (--force)`);
    return { plan, fits, chosen, notes };
  }
  const fit = fitRun(input, { gpuMemoryBytes: opts.gpuMemoryBytes, margin, constants: k });
  const nearest = fit.best
    ? `The fastest setting predicted to fit keeps the global batch: ${applyLine(fit.best)} (${gib(fit.best.plan.peak.total)} GiB).`
    : `Nothing fits on ${opts.world} GPU(s) at this global batch; the smallest setting needs ${gib(fit.smallest.plan.peak.total)} GiB (${settingsLabel(fit.smallest)}). Use more GPUs, LoRA, a shorter cutoff_len or a smaller batch.`;
  throw new WhetError("PLAN_NO_FIT", [
    {
      message: `${line}: it will not fit (${planParts(plan)}). ${nearest} Add those key=value overrides, run 'whet plan CONFIG --fit' for the alternatives, or pass --force to launch anyway.`,
    },
  ]);
}

/** A planner checkpointing choice as a gradient_checkpointing value. */
function checkpointingKey(c: Checkpointing): string {
  return c.mode === "selective" ? `selective/${c.every}` : c.mode;
}

function planParts(p: Plan): string {
  const b = p.peak;
  return `weights ${gib(b.weights)}, gradients ${gib(b.gradients)}, optimizer ${gib(b.optimizer)}, activations ${gib(b.activations)}, logits ${gib(b.logits)} GiB`;
}

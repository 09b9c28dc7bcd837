// Renders a plan (and a fit search) as a terminal table or as JSON. Pure: returns strings/objects.
import { checkpointingLabel } from "./activations.ts";
import type { Candidate, FitResult } from "./fit.ts";
import { COMPONENTS, type Breakdown, type Phase, type Plan } from "./planner.ts";

export const GiB = 1024 ** 3;
const gib = (b: number) => Math.round((b / GiB) * 100) / 100;
const fmt = (b: number) => (b / GiB).toFixed(2);
const billions = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : `${(n / 1e6).toFixed(1)}M`);

export function methodLabel(p: Plan): string {
  const m = p.input.method;
  if (m.kind === "full") return "full";
  if (m.kind === "freeze") return `freeze (last ${m.trainableLayers} blocks)`;
  return `${m.kind === "qlora" ? `qlora ${m.bits}-bit` : "lora"} r=${m.rank} ${m.targets.join(",")}`;
}

export function settingsLabel(c: Pick<Candidate, "microBatch" | "gradientAccumulation" | "checkpointing" | "stage" | "offload">): string {
  return `micro ${c.microBatch} × accum ${c.gradientAccumulation}, checkpointing ${checkpointingLabel(c.checkpointing)}, ${c.stage === "none" ? "ddp" : c.stage}` + (c.offload === "none" ? "" : `, offload ${c.offload}`);
}

export function renderPlan(p: Plan, gpuMemoryBytes: number, margin: number): string {
  const i = p.input;
  const phases: Phase[] = ["forward_end", "backward", "optimizer_step"];
  const rows = [...COMPONENTS, "total"] as const;
  const lines = [
    `model: ${billions(p.params.total)} parameters, ${billions(p.params.trainable)} trainable; ${methodLabel(p)}, ${i.computeBytes === 2 ? "bf16" : "fp32"} compute`,
    `run: ${i.world} GPU(s), ${settingsLabel({ ...i })}, ${p.tokensPerMicroBatch} tokens per micro-batch, ${i.attention} attention, ${i.loss} loss`,
    "",
    `${"GiB per GPU".padEnd(14)}${phases.map((ph) => ph.padStart(16)).join("")}`,
    ...rows.map((r) => `${r.padEnd(14)}${phases.map((ph) => fmt(p.phases[ph][r as keyof Breakdown]).padStart(16)).join("")}`),
    "",
    `peak: ${fmt(p.peak.total)} GiB in ${p.phase} of ${fmt(gpuMemoryBytes)} GiB: ${fitsLabel(p, gpuMemoryBytes, margin)}`,
  ];
  if (p.hostBytesPerGpu > 0) lines.push(`host RAM for offload: ${fmt(p.hostBytesPerGpu)} GiB per GPU, ${fmt(p.hostBytesPerNode)} GiB per node`);
  return lines.join("\n");
}

function fitsLabel(p: Plan, gpuMemoryBytes: number, margin: number): string {
  const usable = gpuMemoryBytes * (1 - margin);
  return p.peak.total <= usable ? `fits with a ${Math.round(margin * 100)}% margin` : `does NOT fit (usable ${fmt(usable)} GiB with a ${Math.round(margin * 100)}% margin)`;
}

export function renderFit(f: FitResult, shown = 6): string {
  const head = `fit: searched ${f.searched} settings keeping the global batch at ${f.globalRows} rows; usable memory ${fmt(f.usableBytes)} GiB per GPU`;
  if (!f.best) {
    return `${head}\nnone fits. The smallest needs ${fmt(f.smallest.plan.peak.total)} GiB (${settingsLabel(f.smallest)}). Use more GPUs, LoRA/QLoRA, a shorter cutoff_len, or a smaller global batch.`;
  }
  const table = f.fitting.slice(0, shown).map((c, n) => `${n === 0 ? "best" : `#${n + 1}`.padStart(4)}  ${fmt(c.plan.peak.total).padStart(7)} GiB  ${Math.round(c.speed.tokensPerSecond).toString().padStart(9)} tok/s (model)  ${settingsLabel(c)}`);
  return [head, ...table, `apply: ${applyLine(f.best)}`].join("\n");
}

/** The config overrides and options that select a candidate. */
export function applyLine(c: Candidate): string {
  const ck = `gradient_checkpointing=${c.checkpointing.mode === "selective" ? `selective/${c.checkpointing.every}` : c.checkpointing.mode}`;
  const sharding = ` sharding=${c.stage === "none" ? "ddp" : c.stage}` + (c.offload === "none" ? "" : ` offload=${c.offload}`);
  return `per_device_train_batch_size=${c.microBatch} gradient_accumulation_steps=${c.gradientAccumulation} ${ck}${sharding}`;
}

export function breakdownJson(b: Breakdown) {
  return { peak_gib: gib(b.total), ...Object.fromEntries(COMPONENTS.map((c) => [`${c}_gib`, gib(b[c])])) };
}

export function candidateJson(c: Candidate) {
  return {
    micro_batch_size: c.microBatch,
    gradient_accumulation_steps: c.gradientAccumulation,
    checkpointing: checkpointingLabel(c.checkpointing),
    sharding: c.stage,
    offload: c.offload,
    peak_gib: gib(c.plan.peak.total),
    phase: c.plan.phase,
    host_ram_gib: gib(c.plan.hostBytesPerNode),
    est_tokens_per_s: Math.round(c.speed.tokensPerSecond),
  };
}

export function planJson(p: Plan, gpuMemoryBytes: number, margin: number, extra: { notes: string[]; fit?: FitResult }) {
  const i = p.input;
  return {
    per_gpu: breakdownJson(p.peak),
    phase: p.phase,
    phases: Object.fromEntries(Object.entries(p.phases).map(([k, v]) => [k, breakdownJson(v)])),
    host_ram_gib: gib(p.hostBytesPerNode),
    host_ram_per_gpu_gib: gib(p.hostBytesPerGpu),
    gpu_memory_gib: gib(gpuMemoryBytes),
    margin,
    fits: p.peak.total <= gpuMemoryBytes * (1 - margin),
    params: p.params,
    settings: {
      method: methodLabel(p),
      world_size: i.world,
      micro_batch_size: i.microBatch,
      gradient_accumulation_steps: i.gradientAccumulation,
      tokens_per_micro_batch: p.tokensPerMicroBatch,
      checkpointing: checkpointingLabel(i.checkpointing),
      sharding: i.stage,
      offload: i.offload,
      attention: i.attention,
      loss: i.loss,
    },
    notes: extra.notes,
    ...(extra.fit
      ? { fit: { global_batch_rows: extra.fit.globalRows, usable_gib: gib(extra.fit.usableBytes), best: extra.fit.best && candidateJson(extra.fit.best), runners_up: extra.fit.fitting.slice(1, 6).map(candidateJson), smallest: candidateJson(extra.fit.smallest) } }
      : {}),
  };
}

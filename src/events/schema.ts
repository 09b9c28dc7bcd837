// Events: the worker's NDJSON stream (runs/<id>/events.jsonl), one object per line.
// Every record carries type, time (unix seconds) and rank; metric names carry their units.
// The JSON Schema in schema/events.schema.json is generated from this file; both sides test
// against the golden files in tests/golden/events/.
import { z } from "zod";

export const PROTOCOL_VERSION = 1;

const base = {
  time: z.number().describe("Unix time in seconds."),
  rank: z.number().int().nonnegative(),
};

export const HelloEvent = z.looseObject({
  type: z.literal("hello"),
  ...base,
  protocol: z.number().int(),
  world_size: z.number().int().positive(),
  hostname: z.string(),
  device: z.string().describe("cuda device name or 'cpu'."),
  versions: z.record(z.string(), z.string()).describe("python, torch, transformers, peft, cuda, nccl."),
  trainable_params: z.number().int().nonnegative(),
  total_params: z.number().int().nonnegative(),
  start_step: z.number().int().nonnegative().describe("0, or the step a resume continues after."),
});

export const StepEvent = z.looseObject({
  type: z.literal("step"),
  ...base,
  step: z.number().int().positive(),
  total_steps: z.number().int().positive(),
  epoch: z.number().nonnegative(),
  loss: z.number().describe("Summed token loss over the global batch divided by its trained tokens."),
  lr: z.number(),
  grad_norm: z.number().nullable(),
  trained_tokens: z.number().int().nonnegative().describe("Tokens carrying loss in this global batch."),
  tokens: z.number().int().nonnegative().describe("Real (non-padding) tokens in this global batch."),
  tokens_per_s: z.number().nonnegative().describe("Real tokens per second, all ranks together."),
  step_time_s: z.number().nonnegative(),
  data_time_s: z.number().nonnegative(),
  fwd_bwd_time_s: z.number().nonnegative().optional().describe("Forward and backward of every micro-batch, their collectives included (docs/speed.md)."),
  optimizer_time_s: z.number().nonnegative().optional().describe("The loss all-reduce, clipping and the optimizer step."),
  comm_wait_time_s: z.number().nonnegative().optional().describe("Time waiting on collectives not hidden behind compute (not sent yet)."),
  mfu: z.number().nonnegative().optional().describe("Model FLOPs utilisation, a fraction (docs/speed.md); absent on the CPU and for unknown GPUs."),
  mem_allocated_gib: z.number().nonnegative(),
  mem_reserved_gib: z.number().nonnegative(),
  mem_peak_gib: z.number().nonnegative(),
  mem_peak_reserved_gib: z.number().nonnegative().optional().describe("Most memory the CUDA caching allocator has held so far (GPUs only)."),
});

export const EvalEvent = z.looseObject({
  type: z.literal("eval"),
  ...base,
  step: z.number().int().nonnegative(),
  eval_loss: z.number(),
});

export const CheckpointEvent = z.looseObject({
  type: z.literal("checkpoint"),
  ...base,
  step: z.number().int().nonnegative(),
  path: z.string(),
  size_bytes: z.number().int().nonnegative(),
  save_time_s: z.number().nonnegative(),
});

export const WarningEvent = z.looseObject({
  type: z.literal("warning"),
  ...base,
  code: z.string(),
  message: z.string(),
});

export const ErrorEvent = z.looseObject({
  type: z.literal("error"),
  ...base,
  code: z.string().describe("OOM, NAN_LOSS, SPEC_INVALID, FAULT_INJECTED, INTERNAL, ..."),
  message: z.string(),
  phase: z.string().nullable().describe("setup, forward, backward, optimizer, checkpoint, export."),
  step: z.number().int().nonnegative().nullable(),
  traceback: z.string().nullable(),
});

export const DoneEvent = z.looseObject({
  type: z.literal("done"),
  ...base,
  run_dir: z.string(),
  steps: z.number().int().nonnegative(),
  first_loss: z.number().nullable(),
  last_loss: z.number().nullable(),
  export_dir: z.string().nullable(),
  elapsed_s: z.number().nonnegative(),
});

export const WhetEvent = z.discriminatedUnion("type", [
  HelloEvent,
  StepEvent,
  EvalEvent,
  CheckpointEvent,
  WarningEvent,
  ErrorEvent,
  DoneEvent,
]);
export type WhetEvent = z.infer<typeof WhetEvent>;
export type StepEvent = z.infer<typeof StepEvent>;
export type DoneEvent = z.infer<typeof DoneEvent>;
export type ErrorEvent = z.infer<typeof ErrorEvent>;

export type ParsedLine = { ok: true; event: WhetEvent } | { ok: false; reason: string };

/** Parses one NDJSON line. A line that cannot be parsed is reported, never thrown. */
export function parseEventLine(line: string): ParsedLine {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, reason: `not JSON: ${line.slice(0, 120)}` };
  }
  const r = WhetEvent.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { ok: false, reason: `${issue?.path.join(".") || "event"}: ${issue?.message ?? "invalid"}` };
  }
  return { ok: true, event: r.data };
}

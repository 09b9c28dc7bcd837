// Turns whet events into TensorBoard scalars in runs/<id>/tensorboard/. The train command calls
// onEvent for every event and close() at the end; rank-0 metrics only (the others carry none).
// Weights & Biases and MLflow get the same tags from a sidecar (src/sinks/).
import { join } from "node:path";
import type { WhetEvent } from "../events/schema.ts";
import { EventFileWriter } from "./writer.ts";

export interface MetricSink {
  onEvent(e: WhetEvent): void;
  close(): void;
}

// Tag rule, shared with the W&B/MLflow sidecar (worker/whet_worker/sink.py, which mirrors it and is
// tested against it): every numeric field of a rank-0 step event but its identity; mem_X goes to
// memory/X, the training quantities to train/, anything else (speed, MFU, the step breakdown, and
// fields the worker adds later) to perf/. Names keep their units.
const NOT_METRICS = new Set(["type", "time", "rank", "step", "total_steps"]);
const TRAIN = new Set(["loss", "lr", "grad_norm", "epoch", "trained_tokens", "tokens"]);

function stepTag(name: string): string {
  if (name.startsWith("mem_")) return `memory/${name.slice(4)}`;
  return TRAIN.has(name) ? `train/${name}` : `perf/${name}`;
}

function numericFields(e: Record<string, unknown>, tag: (name: string) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(e)) {
    if (!NOT_METRICS.has(k) && typeof v === "number" && Number.isFinite(v)) out[tag(k)] = v;
  }
  return out;
}

/** Scalar tags (TensorBoard groups by the part before "/") of one event, at its step. */
export function scalarsOf(e: WhetEvent): { step: number; scalars: Record<string, number> } | undefined {
  if (e.rank !== 0) return undefined;
  if (e.type === "step") return { step: e.step, scalars: numericFields(e, stepTag) };
  if (e.type === "eval") return { step: e.step, scalars: numericFields(e, (k) => `eval/${k.replace(/^eval_/, "")}`) };
  if (e.type === "checkpoint") return { step: e.step, scalars: { "checkpoint/save_time_s": e.save_time_s } };
  return undefined;
}

export function tensorboardSink(runDir: string): MetricSink {
  let writer: EventFileWriter | undefined;
  return {
    onEvent(e) {
      const s = scalarsOf(e);
      if (!s) return;
      writer ??= new EventFileWriter(join(runDir, "tensorboard"));
      writer.write({ wallTime: e.time, step: s.step, scalars: s.scalars });
    },
    close() {
      writer?.close();
    },
  };
}

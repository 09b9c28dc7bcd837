// Turns whet events into TensorBoard scalars in runs/<id>/tensorboard/. The train command calls
// onEvent for every event and close() at the end; rank-0 metrics only (the others carry none).
import { join } from "node:path";
import type { WhetEvent } from "../events/schema.ts";
import { EventFileWriter } from "./writer.ts";

export interface MetricSink {
  onEvent(e: WhetEvent): void;
  close(): void;
}

/** Scalar tags (TensorBoard groups by the part before "/"); names keep their units. */
export function scalarsOf(e: WhetEvent): { step: number; scalars: Record<string, number> } | undefined {
  if (e.type === "step") {
    const s: Record<string, number> = {
      "train/loss": e.loss,
      "train/lr": e.lr,
      "perf/tokens_per_s": e.tokens_per_s,
      "perf/step_time_s": e.step_time_s,
      "perf/data_time_s": e.data_time_s,
      "memory/allocated_gib": e.mem_allocated_gib,
      "memory/reserved_gib": e.mem_reserved_gib,
      "memory/peak_gib": e.mem_peak_gib,
      "train/epoch": e.epoch,
    };
    if (e.grad_norm !== null) s["train/grad_norm"] = e.grad_norm;
    return { step: e.step, scalars: s };
  }
  if (e.type === "eval") return { step: e.step, scalars: { "eval/loss": e.eval_loss } };
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

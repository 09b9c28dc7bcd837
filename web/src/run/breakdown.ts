// The per-step breakdown as stacked layers: data, forward+backward, optimizer, communication wait,
// and whatever else the step spent (the rest of step_time_s). Only when the worker reports the
// parts (fwd_bwd_time_s, optimizer_time_s, comm_wait_time_s); otherwise null and the page shows
// the plain data-against-step chart.
import type { RunModel, SeriesName } from "./model.ts";

export interface Layer {
  label: string;
  /** The layer's own seconds (shown in the legend). */
  raw: (number | null)[];
  /** Its top edge: the sum of this layer and every layer below it (what is drawn). */
  top: (number | null)[];
}

const PARTS: [SeriesName, string][] = [
  ["data_time_s", "data"],
  ["fwd_bwd_time_s", "forward + backward"],
  ["optimizer_time_s", "optimizer"],
  ["comm_wait_time_s", "communication wait"],
];

/** Bottom layer first; null when no step carries any part beyond the data time. */
export function stepBreakdown(m: RunModel): Layer[] | null {
  const s = m.series;
  const reported = PARTS.slice(1).some(([k]) => s[k].some((v) => v !== null));
  if (!reported) return null;
  const layers: Layer[] = [];
  const sum = m.step.map(() => 0);
  for (const [k, label] of PARTS) {
    const raw = s[k];
    layers.push({ label, raw, top: raw.map((v, i) => (sum[i]! += v ?? 0)) });
  }
  const other = s.step_time_s.map((t, i) => (t === null ? null : Math.max(0, t - sum[i]!)));
  layers.push({ label: "other", raw: other, top: other.map((v, i) => (v === null ? sum[i]! : sum[i]! + v)) });
  return layers;
}

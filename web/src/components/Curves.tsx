// The run page's charts, three to a row: loss (with eval loss), learning rate, gradient norm;
// tokens/s, MFU (when the worker reports it), the per-step breakdown (stacked when the worker
// reports the parts, else data against the whole step); the worker's memory, then every GPU's
// memory and utilisation over time (nvidia-smi samples).
import type { RunModel } from "../run/model.ts";
import { evalSeries } from "../run/model.ts";
import { stepBreakdown } from "../run/breakdown.ts";
import { Chart, COLORS, type Line } from "./Chart.tsx";
import { GpuCharts } from "./Gpus.tsx";

// Stroke and fill per layer, bottom first: data, forward+backward, optimizer, communication, other.
const LAYER_COLORS: [string, string][] = [
  ["#0891b2", "#cffafe"],
  ["#2563eb", "#bfdbfe"],
  ["#7c3aed", "#ddd6fe"],
  ["#dc2626", "#fecaca"],
  ["#4b5563", "#e5e7eb"],
];

export function Curves({ model: m, live }: { model: RunModel; live: boolean }) {
  const s = m.series;
  const memory: Line[] = m.perRankMem.length
    ? m.perRankMem.map((values, r) => ({ label: `rank ${r} reserved GiB`, values, color: COLORS[r % COLORS.length]! }))
    : [
        { label: "allocated GiB", values: s.mem_allocated_gib, color: COLORS[0]! },
        { label: "reserved GiB", values: s.mem_reserved_gib, color: COLORS[2]! },
        { label: "peak GiB", values: s.mem_peak_gib, color: COLORS[1]!, dash: true },
      ];
  const hasMfu = s.mfu.some((v) => v !== null);
  const layers = stepBreakdown(m);
  return (
    <div class="charts">
      <Chart
        title="Loss"
        testId="loss-chart"
        x={m.step}
        lines={[
          { label: "train loss", values: s.loss, color: COLORS[0]! },
          { label: "eval loss", values: evalSeries(m), color: COLORS[1]!, points: true },
        ]}
      />
      <Chart title="Learning rate" testId="lr-chart" x={m.step} lines={[{ label: "lr", values: s.lr, color: COLORS[4]! }]} />
      <Chart title="Gradient norm" x={m.step} lines={[{ label: "grad norm", values: s.grad_norm, color: COLORS[6]! }]} />
      <Chart title="Tokens per second" testId="tps-chart" x={m.step} lines={[{ label: "tokens/s", values: s.tokens_per_s, color: COLORS[2]! }]} />
      {hasMfu && (
        <Chart
          title="Model FLOPs utilisation (%)"
          testId="mfu-chart"
          x={m.step}
          lines={[{ label: "MFU %", values: s.mfu.map((v) => (v === null ? null : v * 100)), color: COLORS[3]! }]}
        />
      )}
      {layers ? (
        <Chart
          title="Step time breakdown (s, stacked)"
          testId="breakdown-chart"
          x={m.step}
          lines={[...layers]
            .map((l, i) => ({ label: l.label, values: l.top, legend: l.raw, color: LAYER_COLORS[i]![0], fill: LAYER_COLORS[i]![1] }))
            .reverse()}
        />
      ) : (
        <Chart
          title="Step time: data vs whole step"
          testId="time-chart"
          x={m.step}
          lines={[
            { label: "step s", values: s.step_time_s, color: COLORS[3]! },
            { label: "data s", values: s.data_time_s, color: COLORS[5]! },
          ]}
        />
      )}
      <Chart title={m.perRankMem.length ? "Memory per rank (worker)" : "Memory of rank 0 (worker)"} testId="mem-chart" x={m.step} lines={memory} />
      <GpuCharts gpu={m.gpu} live={live} />
    </div>
  );
}

// The run page's charts: loss (with eval loss), learning rate, tokens/s, memory per GPU, and the
// per-step breakdown of data time against the whole step.
import type { RunModel } from "../run/model.ts";
import { evalSeries } from "../run/model.ts";
import { Chart, COLORS, type Line } from "./Chart.tsx";

export function Curves({ model: m }: { model: RunModel }) {
  const s = m.series;
  const memory: Line[] = m.perRankMem.length
    ? m.perRankMem.map((values, r) => ({ label: `rank ${r} reserved GiB`, values, color: COLORS[r % COLORS.length]! }))
    : [
        { label: "rank 0 allocated GiB", values: s.mem_allocated_gib, color: COLORS[0]! },
        { label: "rank 0 reserved GiB", values: s.mem_reserved_gib, color: COLORS[2]! },
        { label: "rank 0 peak GiB", values: s.mem_peak_gib, color: COLORS[1]!, dash: true },
      ];
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
      <Chart title="Tokens per second" testId="tps-chart" x={m.step} lines={[{ label: "tokens/s", values: s.tokens_per_s, color: COLORS[2]! }]} />
      <Chart title="Memory per GPU" testId="mem-chart" x={m.step} lines={memory} />
      <Chart
        title="Step time: data vs whole step"
        testId="time-chart"
        x={m.step}
        lines={[
          { label: "step s", values: s.step_time_s, color: COLORS[3]! },
          { label: "data s", values: s.data_time_s, color: COLORS[5]! },
        ]}
      />
      <Chart title="Gradient norm" x={m.step} lines={[{ label: "grad norm", values: s.grad_norm, color: COLORS[6]! }]} />
    </div>
  );
}

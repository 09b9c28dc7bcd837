// Every GPU of the run's machine as nvidia-smi sees it (runs/<id>/gpu.jsonl, sampled by whet
// train every few seconds): memory and utilisation over time, and a table of the newest sample.
import type { GpuSeries } from "../run/gpu.ts";
import { trackLabel } from "../run/gpu.ts";
import { Chart, COLORS, type Line } from "./Chart.tsx";

const pct = (v: number | null) => (v === null ? "-" : `${Math.round(v)}%`);
const num = (v: number | null, unit: string, digits = 1) => (v === null ? "-" : `${v.toFixed(digits)} ${unit}`);
const color = (i: number) => COLORS[i % COLORS.length]!;

/** The two charts over time, or a card saying there are no samples (they sit in the charts grid). */
export function GpuCharts({ gpu, live }: { gpu: GpuSeries; live: boolean }) {
  if (gpu.tracks.length === 0) {
    return (
      <section class="card chart" data-testid="gpu-none">
        <h3>GPUs</h3>
        <p class="muted">no GPU samples{live ? " yet" : ""}.</p>
        <p class="muted small">whet train samples every GPU with nvidia-smi every few seconds; a CPU run, or a machine without nvidia-smi, has none.</p>
      </section>
    );
  }
  const spanGaps = Object.keys(gpu.lastTime).length > 1;
  const mem: Line[] = gpu.tracks.map((t, i) => ({ label: trackLabel(gpu, t), values: t.mem, color: color(i), spanGaps }));
  if (gpu.capacityGib !== null) mem.push({ label: "capacity", values: gpu.time.map(() => gpu.capacityGib), color: "#9ca3af", dash: true });
  const util: Line[] = gpu.tracks.map((t, i) => ({ label: trackLabel(gpu, t), values: t.util, color: color(i), spanGaps }));
  return (
    <>
      <Chart title="GPU memory used (GiB, nvidia-smi)" testId="gpu-mem-chart" x={gpu.time} xTime lines={mem} emptyText="no samples yet" />
      <Chart title="GPU utilisation (%, nvidia-smi)" testId="gpu-util-chart" x={gpu.time} xTime yRange={[0, 100]} lines={util} emptyText="no samples yet" />
    </>
  );
}

function stats(values: (number | null)[]): { peak: number | null; mean: number | null } {
  let peak: number | null = null;
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (v === null) continue;
    peak = peak === null ? v : Math.max(peak, v);
    sum += v;
    n++;
  }
  return { peak, mean: n ? sum / n : null };
}

/** Each GPU at the newest sample, with its peak memory and mean utilisation over the run. */
export function GpuTable({ gpu, live }: { gpu: GpuSeries; live: boolean }) {
  if (gpu.tracks.length === 0) return null;
  return (
    <section class="card" data-testid="gpu-table">
      <h3>{live ? "GPUs now" : "GPUs at the last sample"}</h3>
      <table class="gpus">
        <thead>
          <tr>
            <th>GPU</th>
            <th class="num">utilisation</th>
            <th class="num">mean</th>
            <th>memory used</th>
            <th class="num">peak</th>
            <th class="num">power</th>
          </tr>
        </thead>
        <tbody>
          {gpu.tracks.map((t, i) => {
            const g = t.latest;
            const frac = g.mem_used_gib !== null && g.mem_total_gib ? g.mem_used_gib / g.mem_total_gib : 0;
            return (
              <tr key={`${t.host}/${t.index}`}>
                <td class="nowrap">
                  <span class="swatch" style={{ background: color(i) }} /> {trackLabel(gpu, t)}
                </td>
                <td class="num">{pct(g.util_pct)}</td>
                <td class="num muted">{pct(stats(t.util).mean)}</td>
                <td class="barcell">
                  <span class="meter">
                    <span class="fill" style={{ width: `${Math.min(100, frac * 100)}%` }} />
                  </span>{" "}
                  {num(g.mem_used_gib, "GiB")} / {num(g.mem_total_gib, "GiB", 0)}
                </td>
                <td class="num muted">{num(stats(t.mem).peak, "GiB")}</td>
                <td class="num">{num(g.power_w, "W", 0)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

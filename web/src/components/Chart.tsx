// A line chart over steps or over time (uPlot: small, fast with thousands of live points).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: boolean;
  points?: boolean;
  /** Fill below the line (stacked charts draw their top layer first). */
  fill?: string;
  /** Values the legend shows instead of the drawn ones (a stacked layer's own size). */
  legend?: (number | null)[];
  /** Bridge nulls (default true); false breaks the line there. */
  spanGaps?: boolean;
}

interface Props {
  title: string;
  x: number[];
  lines: Line[];
  testId?: string;
  yLog?: boolean;
  /** A fixed y range, e.g. [0, 100] for percentages. */
  yRange?: [number, number];
  /** x is unix time in seconds (drawn as clock time), not steps. */
  xTime?: boolean;
  emptyText?: string;
  height?: number;
}

/** Learning rates need exponents; uPlot's default would print 0.001 for both 1e-3 and 1.5e-3. */
function tick(v: number): string {
  if (v === 0) return "0";
  return Math.abs(v) < 0.01 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

/** Steps are whole numbers: no tick at step 1.5. */
const STEP_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 25_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];

/** Clock-time ticks of whole seconds; long runs drop the seconds. */
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
function clock(u: uPlot, ticks: number[]): string[] {
  const span = (u.scales.x?.max ?? 0) - (u.scales.x?.min ?? 0);
  return ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", ...(span < 3600 ? { second: "2-digit" } : {}) }));
}

export const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

export function Chart({ title, x, lines, testId, yLog, yRange, xTime, emptyText = "no steps yet", height = 220 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const current = useRef(lines);
  current.current = lines;
  const shape = lines.map((l) => l.label).join("|");

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: Boolean(xTime) }, y: yLog ? { distr: 3 } : yRange ? { range: yRange } : {} },
      axes: [
        { label: xTime ? "time" : "step", stroke: "#6b7280", grid: { stroke: "#eef0f3" }, ...(xTime ? { incrs: TIME_INCRS, values: clock, space: 70 } : { incrs: STEP_INCRS }) },
        { stroke: "#6b7280", grid: { stroke: "#eef0f3" }, size: 60, values: (_u, ticks) => ticks.map(tick) },
      ],
      series: [
        { label: xTime ? "time" : "step" },
        ...lines.map((l, i) => ({
          label: l.label,
          stroke: l.color,
          fill: l.fill,
          width: 1.75,
          dash: l.dash ? [6, 4] : undefined,
          spanGaps: l.spanGaps ?? true,
          points: { show: l.points ?? false, size: 6, fill: l.color },
          ...(l.legend
            ? {
                value: (_u: uPlot, _v: number | null, _s: number, idx: number | null) => {
                  const v = idx === null ? null : current.current[i]?.legend?.[idx];
                  return v === null || v === undefined ? "--" : tick(v);
                },
              }
            : {}),
        })),
      ],
    };
    plot.current = new uPlot(opts, [x, ...lines.map((l) => l.values)] as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, yLog, xTime, height]);

  useEffect(() => {
    plot.current?.setData([x, ...lines.map((l) => l.values)] as uPlot.AlignedData);
  });

  return (
    <section class="card chart" data-testid={testId} data-points={x.length}>
      <h3>{title}</h3>
      <div ref={box} class="plot" />
      {x.length === 0 && <p class="muted empty">{emptyText}</p>}
    </section>
  );
}

// A line chart over steps (uPlot: small, fast with thousands of live points).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: boolean;
  points?: boolean;
}

interface Props {
  title: string;
  x: number[];
  lines: Line[];
  testId?: string;
  yLog?: boolean;
  height?: number;
}

/** Learning rates need exponents; uPlot's default would print 0.001 for both 1e-3 and 1.5e-3. */
function tick(v: number): string {
  if (v === 0) return "0";
  return Math.abs(v) < 0.01 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

export const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

export function Chart({ title, x, lines, testId, yLog, height = 220 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = lines.map((l) => l.label).join("|");

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false }, y: yLog ? { distr: 3 } : {} },
      axes: [{ label: "step", stroke: "#6b7280", grid: { stroke: "#eef0f3" } }, { stroke: "#6b7280", grid: { stroke: "#eef0f3" }, size: 60, values: (_u, ticks) => ticks.map(tick) }],
      series: [
        { label: "step" },
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 1.75,
          dash: l.dash ? [6, 4] : undefined,
          spanGaps: true,
          points: { show: l.points ?? false, size: 6, fill: l.color },
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
  }, [shape, yLog, height]);

  useEffect(() => {
    plot.current?.setData([x, ...lines.map((l) => l.values)] as uPlot.AlignedData);
  });

  return (
    <section class="card chart" data-testid={testId} data-points={x.length}>
      <h3>{title}</h3>
      <div ref={box} class="plot" />
      {x.length === 0 && <p class="muted empty">no steps yet</p>}
    </section>
  );
}

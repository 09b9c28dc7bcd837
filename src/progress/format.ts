// Number and time formats shared by the terminal view and the run summaries.

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0");
  const ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function sci(n: number): string {
  return n === 0 ? "0" : n.toExponential(2);
}

export function loss(n: number | null | undefined): string {
  return n === null || n === undefined ? "-" : n.toFixed(4);
}

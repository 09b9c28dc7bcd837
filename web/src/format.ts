// The terminal's number formats (src/progress/format.ts) plus the few the pages add.
export { duration, count, loss, sci } from "../../src/progress/format.ts";

export function when(unixS: number | null): string {
  if (unixS === null) return "-";
  const d = new Date(unixS * 1000);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function gib(n: number | null | undefined): string {
  return n === null || n === undefined ? "-" : `${n.toFixed(2)} GiB`;
}

export function bytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

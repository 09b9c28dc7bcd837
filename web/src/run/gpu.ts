// Folds GPU samples (runs/<id>/gpu.jsonl, from the supervisor's nvidia-smi sampler) into series
// over time, one per GPU, aligned for uPlot: every series has a value (or null) at every time.
import type { GpuReading, GpuRecord } from "../../../src/gpu-sampler/samples.ts";

export interface GpuTrack {
  host: string;
  index: number;
  util: (number | null)[];
  mem: (number | null)[];
  latest: GpuReading;
}

export interface GpuSeries {
  time: number[];
  tracks: GpuTrack[];
  /** Newest sample time per host: a repeated poll (or reconnect) never adds a sample twice. */
  lastTime: Record<string, number>;
  /** The largest memory.total seen: the capacity line on the memory chart. */
  capacityGib: number | null;
}

/** A pause longer than this (a stopped and resumed run) breaks the lines instead of bridging it. */
export const GAP_S = 30;

export function emptyGpu(): GpuSeries {
  return { time: [], tracks: [], lastTime: {}, capacityGib: null };
}

function insertAt(s: GpuSeries, time: number): number {
  let i = s.time.length;
  while (i > 0 && s.time[i - 1]! > time) i--;
  s.time.splice(i, 0, time);
  for (const t of s.tracks) {
    t.util.splice(i, 0, null);
    t.mem.splice(i, 0, null);
  }
  return i;
}

export function applyGpu(s: GpuSeries, r: GpuRecord): void {
  const last = s.lastTime[r.host];
  if (last !== undefined && r.time <= last) return;
  const hosts = Object.keys(s.lastTime);
  // One host: a null row in a long pause breaks the lines (several hosts interleave, so not there).
  if (last !== undefined && hosts.length === 1 && r.time - last > GAP_S) insertAt(s, last + GAP_S / 2);
  s.lastTime[r.host] = r.time;
  const i = insertAt(s, r.time);
  for (const g of r.gpus) {
    let t = s.tracks.find((x) => x.host === r.host && x.index === g.index);
    if (!t) {
      t = { host: r.host, index: g.index, util: new Array(s.time.length).fill(null), mem: new Array(s.time.length).fill(null), latest: g };
      s.tracks.push(t);
      s.tracks.sort((a, b) => (a.host === b.host ? a.index - b.index : a.host < b.host ? -1 : 1));
    }
    t.util[i] = g.util_pct;
    t.mem[i] = g.mem_used_gib;
    t.latest = g; // samples older than the host's newest were dropped above
    if (g.mem_total_gib !== null) s.capacityGib = Math.max(s.capacityGib ?? 0, g.mem_total_gib);
  }
}

/** "GPU 3", or "node-b GPU 3" once samples come from more than one host. */
export function trackLabel(s: GpuSeries, t: GpuTrack): string {
  return Object.keys(s.lastTime).length > 1 ? `${t.host} GPU ${t.index}` : `GPU ${t.index}`;
}

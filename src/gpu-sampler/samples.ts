// GPU samples: what nvidia-smi says about each GPU every few seconds, one JSON line per sample in
// runs/<id>/gpu.jsonl. Pure: parsing nvidia-smi's CSV and the file's lines; the sampler
// (sampler.ts) does the polling and the dashboard's server the reading.
import { z } from "zod";

export const GPU_FILE = "gpu.jsonl";

/** The query the sampler runs; parseNvidiaSmi reads its output in this column order. */
export const QUERY = ["index", "utilization.gpu", "memory.used", "memory.total", "power.draw"] as const;

export const GpuReading = z.object({
  index: z.number().int().nonnegative().describe("nvidia-smi's index (physical, not CUDA_VISIBLE_DEVICES order)."),
  util_pct: z.number().nullable(),
  mem_used_gib: z.number().nullable(),
  mem_total_gib: z.number().nullable(),
  power_w: z.number().nullable(),
});
export type GpuReading = z.infer<typeof GpuReading>;

/** One line of gpu.jsonl: every sampled GPU of one host at one time. */
export const GpuRecord = z.object({
  time: z.number().describe("Unix time in seconds."),
  host: z.string(),
  gpus: z.array(GpuReading),
});
export type GpuRecord = z.infer<typeof GpuRecord>;

const MIB_PER_GIB = 1024;

/** "[N/A]", "[Not Supported]" and empty cells are null; MiB become GiB (3 decimals). */
function cell(text: string | undefined, scale = 1): number | null {
  const t = (text ?? "").trim();
  if (!/^-?\d+(\.\d+)?$/.test(t)) return null;
  return Math.round((Number(t) / scale) * 1000) / 1000;
}

/** Output of `nvidia-smi --query-gpu=<QUERY> --format=csv,noheader,nounits`, one line per GPU. */
export function parseNvidiaSmi(text: string, time: number, host: string): GpuRecord {
  const gpus: GpuReading[] = [];
  for (const line of text.split("\n")) {
    const cols = line.split(",");
    const index = cell(cols[0]);
    if (cols.length < QUERY.length || index === null || !Number.isInteger(index) || index < 0) continue;
    gpus.push({
      index,
      util_pct: cell(cols[1]),
      mem_used_gib: cell(cols[2], MIB_PER_GIB),
      mem_total_gib: cell(cols[3], MIB_PER_GIB),
      power_w: cell(cols[4]),
    });
  }
  return { time, host, gpus };
}

/** One line of gpu.jsonl, or null when it is not a sample (skipped, never fatal). */
export function parseGpuLine(line: string): GpuRecord | null {
  try {
    const r = GpuRecord.safeParse(JSON.parse(line));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** At most `max` records, evenly spaced, always keeping the last (long runs replay quickly). */
export function thin<T>(records: T[], max: number): T[] {
  if (records.length <= max) return records;
  const stride = Math.ceil(records.length / max);
  const kept = records.filter((_, i) => i % stride === 0);
  if ((records.length - 1) % stride !== 0) kept.push(records[records.length - 1]!);
  return kept;
}

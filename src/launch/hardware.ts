// What accelerators this node has, read from nvidia-smi's query interface (no Python needed).
import { spawnSync } from "node:child_process";

export interface GpuInfo {
  index: number;
  name: string;
  memoryMiB: number;
}

/** Parses `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits`. */
export function parseGpuQuery(text: string): GpuInfo[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [index, name, mem] = line.split(",").map((s) => s.trim());
      return { index: Number(index), name: name ?? "", memoryMiB: Number(mem) };
    })
    .filter((g) => Number.isFinite(g.index));
}

/** GPUs this process may use: nvidia-smi's list narrowed by CUDA_VISIBLE_DEVICES. */
export function visibleGpus(env: NodeJS.ProcessEnv = process.env): GpuInfo[] {
  const r = spawnSync("nvidia-smi", ["--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"], {
    encoding: "utf8",
    timeout: 15_000,
  });
  if (r.error || r.status !== 0) return [];
  const all = parseGpuQuery(r.stdout);
  const mask = env.CUDA_VISIBLE_DEVICES;
  if (mask === undefined) return all;
  if (mask.trim() === "" || mask.trim() === "-1") return [];
  const wanted = mask.split(",").map((s) => s.trim());
  return all.filter((g) => wanted.includes(String(g.index)));
}

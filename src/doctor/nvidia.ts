// What nvidia-smi says about the GPUs: the query interface (one CSV row per GPU), the driver's
// CUDA version from the banner, and the link between each pair from `nvidia-smi topo -m`.
// Parsers are pure; `readNvidia` is the only part that runs nvidia-smi.
import { spawnSync } from "node:child_process";
import { parseGpuQuery, type GpuInfo } from "../launch/hardware.ts";

/** Columns after hardware.ts's index,name,memory.total, in this order. */
const EXTRA_FIELDS = [
  "memory.used", "driver_version", "compute_cap", "clocks.sm", "clocks.max.sm", "clocks.mem",
  "utilization.gpu", "temperature.gpu", "power.draw", "power.limit",
  "pcie.link.gen.max", "pcie.link.width.max", "pci.bus_id",
] as const;
export const QUERY_FIELDS = ["index", "name", "memory.total", ...EXTRA_FIELDS].join(",");

export interface GpuDetail extends GpuInfo {
  memoryUsedMiB: number | null;
  driver: string;
  computeCap: string | null;
  smClockMHz: number | null;
  smClockMaxMHz: number | null;
  memClockMHz: number | null;
  utilizationPct: number | null;
  temperatureC: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  pcieGen: number | null;
  pcieWidth: number | null;
  busId: string;
}

const num = (s: string | undefined): number | null => {
  if (s === undefined) return null;
  const n = Number.parseFloat(s);
  return Number.isFinite(n) ? n : null; // "[N/A]", "[Not Supported]"
};

const BASIC_FIELDS = "index,name,memory.total,driver_version";

/** Parses `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits` (fields start index,name,memory.total). */
export function parseGpuDetails(text: string, fields: string = QUERY_FIELDS): GpuDetail[] {
  const extra = fields.split(",").slice(3);
  const base = parseGpuQuery(text);
  const rows = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return base.map((g, i) => {
    const cells = (rows[i] ?? "").split(",").map((s) => s.trim()).slice(3);
    const at = (f: (typeof EXTRA_FIELDS)[number]) => (extra.includes(f) ? cells[extra.indexOf(f)] : undefined);
    const cap = at("compute_cap");
    return {
      ...g,
      memoryUsedMiB: num(at("memory.used")),
      driver: at("driver_version") ?? "",
      computeCap: cap && /^\d+\.\d+$/.test(cap) ? cap : null,
      smClockMHz: num(at("clocks.sm")),
      smClockMaxMHz: num(at("clocks.max.sm")),
      memClockMHz: num(at("clocks.mem")),
      utilizationPct: num(at("utilization.gpu")),
      temperatureC: num(at("temperature.gpu")),
      powerW: num(at("power.draw")),
      powerLimitW: num(at("power.limit")),
      pcieGen: num(at("pcie.link.gen.max")),
      pcieWidth: num(at("pcie.link.width.max")),
      busId: at("pci.bus_id") ?? "",
    };
  });
}

/** The driver's CUDA version from plain `nvidia-smi`'s banner ("CUDA Version: 12.4"). */
export function parseCudaVersion(banner: string): string | null {
  return /CUDA Version:\s*([\d.]+)/.exec(banner)?.[1] ?? null;
}

export type LinkKind = "nvlink" | "PIX" | "PXB" | "PHB" | "NODE" | "SYS" | "unknown";

export interface Link {
  a: number;
  b: number;
  /** As nvidia-smi prints it: NV18, PIX, SYS... */
  raw: string;
  kind: LinkKind;
  /** Bonded NVLinks (NV#), 0 for PCIe paths. */
  nvlinks: number;
}

export interface Topology {
  gpus: number;
  /** One entry per unordered pair a < b. */
  links: Link[];
}

const ANSI = /\x1b\[[0-9;]*m/g;

function linkKind(raw: string): { kind: LinkKind; nvlinks: number } {
  const nv = /^NV(\d+)$/.exec(raw);
  if (nv) return { kind: "nvlink", nvlinks: Number(nv[1]) };
  if (raw === "SOC") return { kind: "SYS", nvlinks: 0 }; // older drivers' name for SYS
  if (["PIX", "PXB", "PHB", "NODE", "SYS"].includes(raw)) return { kind: raw as LinkKind, nvlinks: 0 };
  return { kind: "unknown", nvlinks: 0 };
}

/** Parses `nvidia-smi topo -m`: the GPU×GPU block of the matrix (NIC columns and legends ignored). */
export function parseTopology(text: string): Topology {
  const lines = text.replace(ANSI, "").split("\n");
  const header = lines.find((l) => /^\s+GPU0\b/.test(l));
  if (!header) return { gpus: 0, links: [] };
  const columns = header.split("\t").map((s) => s.trim()).filter(Boolean);
  const gpuCols = columns.filter((c) => /^GPU\d+$/.test(c)).length;
  const links: Link[] = [];
  for (const line of lines) {
    const m = /^GPU(\d+)\t(.*)$/.exec(line);
    if (!m) continue;
    const a = Number(m[1]);
    const cells = m[2]!.split("\t").map((s) => s.trim());
    for (let b = a + 1; b < gpuCols; b++) {
      const raw = cells[b] ?? "";
      links.push({ a, b, raw, ...linkKind(raw) });
    }
  }
  return { gpus: gpuCols, links };
}

/** The slowest kind of link over all pairs decides the collectives' speed. */
export function slowestLink(topo: Topology): Link | undefined {
  const rank = (l: Link) => (l.kind === "nvlink" ? 10 + l.nvlinks : { PIX: 5, PXB: 4, NODE: 3, PHB: 2, SYS: 1, unknown: 0 }[l.kind]);
  return [...topo.links].sort((x, y) => rank(x) - rank(y))[0];
}

export interface NvidiaFacts {
  /** false when nvidia-smi is missing or fails (no driver, no GPU). */
  present: boolean;
  error?: string;
  gpus: GpuDetail[];
  cudaVersion: string | null;
  topology: Topology;
}

function smi(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync("nvidia-smi", args, { encoding: "utf8", timeout: 30_000 });
  if (r.error) return { ok: false, out: "", err: (r.error as NodeJS.ErrnoException).code === "ENOENT" ? "nvidia-smi not found" : r.error.message };
  return { ok: r.status === 0, out: r.stdout, err: (r.stderr || r.stdout).trim() };
}

/** Runs nvidia-smi three times (query, banner, topology). Lists every GPU, not only visible ones. */
export function readNvidia(): NvidiaFacts {
  const empty = { gpus: [], cudaVersion: null, topology: { gpus: 0, links: [] } };
  let fields = QUERY_FIELDS;
  let q = smi([`--query-gpu=${fields}`, "--format=csv,noheader,nounits"]);
  // Old drivers lack some fields (compute_cap before 510): fall back to the basic ones.
  if (!q.ok && /not a valid field/i.test(q.err)) {
    fields = BASIC_FIELDS;
    q = smi([`--query-gpu=${fields}`, "--format=csv,noheader,nounits"]);
  }
  if (!q.ok) return { present: false, error: q.err || "nvidia-smi failed", ...empty };
  const gpus = parseGpuDetails(q.out, fields);
  const banner = smi([]);
  const topo = gpus.length > 1 ? smi(["topo", "-m"]) : { ok: false, out: "" };
  return { present: gpus.length > 0, gpus, cudaVersion: parseCudaVersion(banner.out), topology: topo.ok ? parseTopology(topo.out) : { gpus: gpus.length, links: [] } };
}

/** The GPUs a process sees after CUDA_VISIBLE_DEVICES (indices or UUID prefixes are not resolved: indices only). */
export function maskedCount(all: number, mask: string | undefined): number {
  if (mask === undefined) return all;
  const m = mask.trim();
  if (m === "" || m === "-1") return 0;
  // CUDA stops at the first invalid entry.
  let n = 0;
  for (const part of m.split(",").map((s) => s.trim())) {
    if (/^\d+$/.test(part) && Number(part) < all) n++;
    else if (/^(GPU|MIG)-/.test(part)) n++;
    else break;
  }
  return n;
}

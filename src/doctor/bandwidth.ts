// Bus bandwidth as nccl-tests computes it (doc/PERFORMANCE.md in NVIDIA/nccl-tests):
// algbw = size / time, and busbw = algbw × factor, where the factor makes the figure comparable to
// the link's hardware bandwidth whatever the GPU count: 2(n-1)/n for all-reduce, (n-1)/n for
// all-gather and reduce-scatter. `size` is the whole buffer: the all-reduce buffer, the all-gather
// output, the reduce-scatter input.
import type { GpuDetail, Topology } from "./nvidia.ts";
import { slowestLink } from "./nvidia.ts";
import { NVLINK_GBPS_PER_LINK, PCIE_X16_GBPS } from "./specs.ts";

export type Collective = "all_reduce" | "all_gather" | "reduce_scatter";

export const COLLECTIVES: Collective[] = ["all_reduce", "all_gather", "reduce_scatter"];

export function busFactor(op: Collective, ranks: number): number {
  if (ranks <= 1) return 0;
  return op === "all_reduce" ? (2 * (ranks - 1)) / ranks : (ranks - 1) / ranks;
}

export interface BandwidthRow {
  bytes: number;
  seconds: number;
  /** GB/s, 1e9 bytes. */
  algbw: number;
  busbw: number;
}

export function bandwidth(op: Collective, ranks: number, bytes: number, seconds: number): BandwidthRow {
  const algbw = seconds > 0 ? bytes / seconds / 1e9 : 0;
  return { bytes, seconds, algbw, busbw: algbw * busFactor(op, ranks) };
}

export interface ExpectedBandwidth {
  gbps: number;
  /** Where the figure comes from, in words. */
  source: string;
}

/**
 * The busbw the slowest link between any two GPUs should carry, one direction. NVLink: bonded
 * links × 25 GB/s. PCIe: the smallest generation and width any GPU reports.
 */
export function expectedBusBandwidth(gpus: Pick<GpuDetail, "pcieGen" | "pcieWidth">[], topo: Topology): ExpectedBandwidth | undefined {
  const slow = slowestLink(topo);
  if (slow?.kind === "nvlink") {
    return {
      gbps: slow.nvlinks * NVLINK_GBPS_PER_LINK,
      source: `NV${slow.nvlinks} in nvidia-smi topo -m × ${NVLINK_GBPS_PER_LINK} GB/s per NVLink per direction`,
    };
  }
  const gens = gpus.map((g) => g.pcieGen).filter((g): g is number => g !== null);
  if (gens.length === 0) return undefined;
  const gen = Math.min(...gens);
  const x16 = PCIE_X16_GBPS[Math.min(gen, 5)];
  if (x16 === undefined) return undefined;
  const widths = gpus.map((g) => g.pcieWidth).filter((w): w is number => w !== null && w > 0);
  const width = widths.length ? Math.min(...widths) : 16;
  const via = slow ? ` (GPUs connect through ${slow.raw})` : "";
  return {
    gbps: (x16 * Math.min(width, 16)) / 16,
    source: `PCIe Gen${gen} x${width} from nvidia-smi, ~${x16} GB/s per direction at x16 after protocol overhead${via}`,
  };
}

export const formatBytes = (b: number): string =>
  b >= 2 ** 30 ? `${+(b / 2 ** 30).toFixed(1)} GiB` : b >= 2 ** 20 ? `${+(b / 2 ** 20).toFixed(1)} MiB` : `${+(b / 2 ** 10).toFixed(1)} KiB`;

export const formatGbps = (g: number): string => (g >= 100 ? g.toFixed(0) : g >= 10 ? g.toFixed(1) : g.toFixed(2));

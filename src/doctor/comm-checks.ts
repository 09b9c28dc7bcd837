// Judging GPU-to-GPU traffic: peer copies with checksums, and collective bus bandwidth set against
// the link's expected figure. Pure.
import { check, type Check } from "./report.ts";
import { formatBytes, formatGbps, type Collective, type ExpectedBandwidth } from "./bandwidth.ts";
import type { Collectives, Outcome, P2pResult } from "./probe.ts";
import { GOOD_FRACTION } from "./specs.ts";

export function p2pCheck(p2p: Outcome<P2pResult>, workaround: string | undefined): Check {
  if (!p2p.ok) return check("comm.p2p", "Peer copy checksums", "failure", "probe failed", { detail: p2p.error, fix: "Run nvidia-smi -q for GPUs in an error state; reboot after driver updates." });
  const pairs = p2p.value.pairs;
  const bad = pairs.filter((p) => !p.match);
  const gbps = pairs.map((p) => p.seconds > 0 ? p2p.value.bytes / p.seconds / 1e9 : 0);
  const noPeer = pairs.filter((p) => !p.peer_access).length;
  const value = bad.length
    ? `${bad.length} of ${pairs.length} copies came back wrong`
    : `${pairs.length} copies match, ${formatGbps(Math.min(...gbps))}-${formatGbps(Math.max(...gbps))} GB/s` + (noPeer ? ` (${noPeer} without peer access, through the host)` : "");
  const rows = pairs.map((p, i) => `${p.src}→${p.dst}: ${p.match ? "match" : `MISMATCH (${p.zeros} zeros, sum ${p.checksum_dst} vs ${p.checksum_src})`}, ${formatGbps(gbps[i]!)} GB/s, peer access ${p.peer_access ? "yes" : "no"}`);
  // A wrong copy is a failure unless whet's workaround made the collectives come out right.
  return check("comm.p2p", "Peer copy checksums", bad.length ? (workaround ? "warning" : "failure") : "ok", value, {
    detail: rows.join("\n") + (workaround ? `\n${workaround}` : ""),
    fix: "Broken P2P (often IOMMU or PCIe ACS on consumer boards): disable ACS/IOMMU in the BIOS or boot with iommu=pt; whet sets NCCL_P2P_DISABLE=1 meanwhile.",
    data: p2p.value,
  });
}

const TITLE: Record<Collective, string> = { all_reduce: "all-reduce", all_gather: "all-gather", reduce_scatter: "reduce-scatter" };

/** One check per collective: checksums right, then the busbw of the largest size against the link. */
export function collectiveChecks(result: Outcome<Collectives>, expected: ExpectedBandwidth | undefined, ran: string): Check[] {
  if (!result.ok) {
    return [check("comm.collectives", "Collectives", "failure", "did not complete", {
      detail: `${ran}\n${result.error}`,
      fix: "Rerun with NCCL_DEBUG=INFO to see which transport fails; the NCCL checks above name the usual variables.",
    })];
  }
  const { backend, ranks, rows } = result.value;
  const ops = [...new Set(rows.map((r) => r.op))];
  return ops.map((op, i) => {
    const how = i === 0 && ran ? `${ran}\n` : "";
    const mine = rows.filter((r) => r.op === op);
    const wrong = mine.filter((r) => !r.checksumOk);
    const top = mine.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const title = `${backend === "gloo" ? "gloo" : "NCCL"} ${TITLE[op]} (${ranks} ${backend === "gloo" ? "CPU processes" : "GPUs"})`;
    const table = ["size        time(us)   algbw(GB/s)  busbw(GB/s)  checksum",
      ...mine.map((r) => `${formatBytes(r.bytes).padEnd(10)} ${(r.seconds * 1e6).toFixed(1).padStart(10)} ${formatGbps(r.algbw).padStart(12)} ${formatGbps(r.busbw).padStart(12)}  ${r.checksumOk ? "ok" : "WRONG"}`)];
    const base = `busbw ${formatGbps(top.busbw)} GB/s at ${formatBytes(top.bytes)}`;
    const data = { backend, ranks, expected_gbps: expected?.gbps ?? null, rows: mine };
    if (wrong.length) {
      return check(`comm.${op}`, title, "failure", `wrong result at ${wrong.map((r) => formatBytes(r.bytes)).join(", ")}`, {
        detail: `${how}${table.join("\n")}`,
        fix: "Collectives return wrong sums: try NCCL_P2P_DISABLE=1, then NCCL_SHM_DISABLE=1, to find the broken transport; do not train until this passes.",
        data,
      });
    }
    if (!expected || backend === "gloo") {
      return check(`comm.${op}`, title, "ok", `checksums ok, ${base}`, { detail: `${how}${table.join("\n")}`, data });
    }
    const frac = top.busbw / expected.gbps;
    const slow = frac < GOOD_FRACTION.busbw;
    return check(`comm.${op}`, title, slow ? "warning" : "ok", `${base} (${(frac * 100).toFixed(0)}% of ~${expected.gbps} GB/s)`, {
      detail: `${how}expected ~${expected.gbps} GB/s: ${expected.source}\n${table.join("\n")}`,
      fix: `Below ${GOOD_FRACTION.busbw * 100}% of what the link carries: check that NCCL_P2P_DISABLE / NCCL_SHM_DISABLE are not set without need, that the GPUs are idle, and NCCL_DEBUG=INFO for the transport chosen.`,
      data,
    });
  });
}

// Known texts of collective-communication failures (NCCL, gloo, c10d, CUDA peer access), each
// with its usual cause and the fix. Pure: the supervisor feeds it the error events and the tails
// of the rank logs when a run fails or stalls, and prints what matched.

export interface KnownCause {
  id: string;
  /** Matched against each line of error text. */
  pattern: RegExp;
  cause: string;
  fix: string;
}

export const KNOWN_CAUSES: KnownCause[] = [
  {
    id: "nccl.shm",
    pattern: /No space left on device|failed to extend \/dev\/shm|Error while creating shared memory segment|\/dev\/shm.*(too small|insufficient)/i,
    cause: "/dev/shm is too small for NCCL's shared-memory transport (Docker gives 64 MiB by default)",
    fix: "Give the container more shared memory (docker run --shm-size=16g, or --ipc=host), or set NCCL_SHM_DISABLE=1.",
  },
  {
    id: "nccl.ib",
    pattern: /NCCL WARN NET\/IB|ibv_\w+ failed|NET\/IB : .*(error|failed)|IBV_WC_RETRY_EXC_ERR|mlx5.*(error|fail)/i,
    cause: "NCCL's InfiniBand transport failed (no active port, wrong HCA, or a flaky link)",
    fix: "Set NCCL_IB_DISABLE=1 to use TCP sockets, or name the working devices with NCCL_IB_HCA=mlx5_0,...; 'whet doctor' lists the ports and their state.",
  },
  {
    id: "nccl.p2p",
    pattern: /cudaErrorPeerAccess|peer access is not supported|\bP2P\b.*\b(failed|failure|error)\b|cudaIpcOpenMemHandle.*failed|NCCL WARN Cuda failure.*peer/i,
    cause: "GPU peer-to-peer copies do not work between these GPUs (IOMMU, PCIe ACS, or a virtualised host)",
    fix: "Set NCCL_P2P_DISABLE=1 (copies then go through host memory); 'whet doctor' checks every GPU pair.",
  },
  {
    id: "nccl.system",
    pattern: /unhandled system error|ncclSystemError|NCCL error.*system error/i,
    cause: "NCCL hit an error in the operating system or the network layer (often InfiniBand, P2P or /dev/shm)",
    fix: "Rerun with NCCL_DEBUG=INFO to see which transport fails; the usual fixes are NCCL_P2P_DISABLE=1, NCCL_IB_DISABLE=1, or a larger /dev/shm.",
  },
  {
    id: "net.refused",
    pattern: /Connection refused|ECONNREFUSED|connect\(\) failed|Socket Timeout|timed out connecting|Failed to connect to|The client socket has timed out/i,
    cause: "a rank could not reach the rendezvous or another rank over TCP",
    fix: "Check --master-addr and --master-port on every node, that the port is open in the firewall, and that NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME name an interface the nodes share.",
  },
  {
    id: "nccl.internal",
    pattern: /ncclInternalError|NCCL error.*internal error|NCCL version mismatch|ncclInvalidUsage/i,
    cause: "NCCL reported an internal error or a version mismatch between ranks",
    fix: "Make sure every node has the same torch and NCCL versions ('whet doctor' prints them), and rerun with NCCL_DEBUG=INFO.",
  },
  {
    id: "collective.timeout",
    pattern: /Watchdog caught collective operation timeout|ProcessGroupNCCL.*timed? ?out|Timed out waiting .* for (the )?(collective|work)|DistBackendError.*(timeout|timed out)|gloo.*Timed out/i,
    cause: "a collective waited longer than its timeout: one rank is behind (hung, much slower, or calling a different collective)",
    fix: "Look at the rank that is behind in its log; mismatched collectives come from code paths that differ by rank (data of different length, a rank-0-only branch).",
  },
  {
    id: "cuda.ecc",
    pattern: /uncorrectable ECC error|\bXid\b|GPU has fallen off the bus|cudaErrorECCUncorrectable/i,
    cause: "a GPU hardware error (ECC, Xid, or a GPU that fell off the bus)",
    fix: "Check 'nvidia-smi -q -d ECC' and the kernel log (dmesg | grep -i xid); leave that GPU out with CUDA_VISIBLE_DEVICES until it is fixed.",
  },
];

/** The usual suspects when ranks stop without any error text at all. */
export const STALL_CAUSES: string[] = [
  "GPU peer-to-peer copies that hang: try NCCL_P2P_DISABLE=1",
  "InfiniBand that is listed but not usable: try NCCL_IB_DISABLE=1",
  "a /dev/shm too small for NCCL: give the container --shm-size=16g or set NCCL_SHM_DISABLE=1",
  "mismatched collectives: ranks taking different code paths (a rank-0-only branch, data of different length)",
  "a rank blocked outside training: a full disk, a slow network filesystem, or a debugger",
];

export interface CauseMatch {
  cause: KnownCause;
  /** The first line that matched, trimmed, for the message. */
  line: string;
}

/** Every known cause found in the texts, each once, in table order. */
export function matchKnownCauses(texts: string[]): CauseMatch[] {
  const found = new Map<string, CauseMatch>();
  for (const text of texts) {
    for (const line of text.split("\n")) {
      for (const cause of KNOWN_CAUSES) {
        if (!found.has(cause.id) && cause.pattern.test(line)) found.set(cause.id, { cause, line: line.trim().slice(0, 200) });
      }
    }
  }
  return KNOWN_CAUSES.filter((c) => found.has(c.id)).map((c) => found.get(c.id)!);
}

export function renderCauses(matches: CauseMatch[]): string[] {
  return matches.flatMap((m) => [`likely cause: ${m.cause.cause} (seen: "${m.line}")`, `  fix: ${m.cause.fix}`]);
}

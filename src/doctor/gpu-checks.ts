// Judging what nvidia-smi and torch say about the GPUs. Pure.
import { check, type Check } from "./report.ts";
import type { NvidiaFacts, Topology } from "./nvidia.ts";
import type { PythonEnv } from "./probe.ts";

const GiB = 1024; // MiB per GiB

export function bf16Capable(cap: string | null): boolean | null {
  if (!cap) return null;
  return Number(cap.split(".")[0]) >= 8;
}

/** No GPU at all is said plainly; asking for more GPUs than are visible is a failure. */
export function gpuCountCheck(nv: NvidiaFacts, visible: number, wanted: number | undefined): Check {
  if (!nv.present) {
    return check("gpu.count", "GPUs", "warning", `no NVIDIA GPU (${nv.error ?? "nvidia-smi lists none"})`, {
      detail: "Training runs on the CPU with gloo: fine for tests and tiny models, far too slow for real ones.",
      fix: wanted ? `--gpus ${wanted} needs GPUs: install the NVIDIA driver and check that nvidia-smi lists them.` : "For GPU training install the NVIDIA driver (nvidia-smi must list the GPUs); in a container pass --gpus all.",
    });
  }
  const names = [...new Set(nv.gpus.map((g) => `${g.name}, ${(g.memoryMiB / GiB).toFixed(0)} GiB`))];
  const value = `${nv.gpus.length} × ${names.join(" + ")}` + (visible !== nv.gpus.length ? ` (${visible} visible through CUDA_VISIBLE_DEVICES)` : "");
  const verdict = wanted !== undefined && wanted > visible ? "failure" : "ok";
  return check("gpu.count", "GPUs", verdict, value, {
    detail: nv.gpus.map((g) => `GPU${g.index}: ${g.name}, ${g.memoryMiB} MiB, bus ${g.busId}`).join("\n"),
    fix: `--gpus ${wanted} asks for more than the ${visible} visible GPU(s). Lower --gpus, or widen CUDA_VISIBLE_DEVICES.`,
  });
}

function versionParts(v: string): [number, number] {
  const [a, b] = v.split(".").map(Number);
  return [a ?? 0, b ?? 0];
}

/** The driver's CUDA must be at least torch's CUDA major (minor-version compatibility covers the rest). */
export function driverCheck(nv: NvidiaFacts, py: PythonEnv | null): Check {
  const driver = nv.gpus[0]?.driver ?? "?";
  const torchCuda = py?.torch?.cuda_build ?? null;
  const value = `driver ${driver}, CUDA ${nv.cudaVersion ?? "?"}` + (torchCuda ? `; torch built for CUDA ${torchCuda}` : "");
  if (!nv.cudaVersion || !torchCuda) return check("gpu.driver", "Driver and CUDA", "ok", value);
  const [dMaj, dMin] = versionParts(nv.cudaVersion);
  const [tMaj, tMin] = versionParts(torchCuda);
  const verdict = tMaj > dMaj ? "failure" : tMaj === dMaj && tMin > dMin ? "warning" : "ok";
  return check("gpu.driver", "Driver and CUDA", verdict, value, {
    detail: verdict === "failure" ? "A driver runs CUDA up to the version it reports; torch's CUDA major is newer." : "Minor-version compatibility runs this, but kernels compiled on the fly (PTX) may fail.",
    fix: `Update the NVIDIA driver to one for CUDA ${torchCuda} or newer, or install a torch wheel built for CUDA ${nv.cudaVersion} (pip index https://download.pytorch.org/whl/cu${nv.cudaVersion.replace(".", "")}).`,
  });
}

export function capabilityCheck(nv: NvidiaFacts): Check {
  const caps = [...new Set(nv.gpus.map((g) => g.computeCap ?? "?"))];
  const bf16 = nv.gpus.map((g) => bf16Capable(g.computeCap));
  const all = bf16.every((b) => b === true);
  const value = `compute capability ${caps.join(", ")}; bf16 ${all ? "yes" : bf16.some((b) => b === null) ? "unknown" : "no"}`;
  return check("gpu.capability", "Compute capability", all ? "ok" : "warning", value, {
    detail: "bfloat16 needs compute capability 8.0 (Ampere) or newer.",
    fix: "Without bf16, train with fp16: true (loss scaling) instead of bf16: true.",
  });
}

/** Clocks and load: another process on the GPU halves what a run gets. */
export function activityCheck(nv: NvidiaFacts): Check {
  const busy = nv.gpus.filter((g) => (g.utilizationPct ?? 0) >= 10 || (g.memoryUsedMiB ?? 0) > 2 * GiB);
  const rows = nv.gpus.map((g) => {
    const clk = g.smClockMHz !== null ? `SM ${g.smClockMHz}/${g.smClockMaxMHz ?? "?"} MHz` : "SM clock ?";
    const power = g.powerW !== null ? `, ${g.powerW.toFixed(0)}/${g.powerLimitW?.toFixed(0) ?? "?"} W` : "";
    const temp = g.temperatureC !== null ? `, ${g.temperatureC} C` : "";
    return `GPU${g.index}: ${clk}, memory ${g.memClockMHz ?? "?"} MHz, ${g.utilizationPct ?? "?"}% busy, ${g.memoryUsedMiB ?? "?"} MiB used${power}${temp}`;
  });
  const maxUtil = Math.max(...nv.gpus.map((g) => g.utilizationPct ?? 0));
  const value = busy.length ? `GPU ${busy.map((g) => g.index).join(", ")} in use` : `idle (highest load ${maxUtil}%)`;
  return check("gpu.activity", "Clocks and load", busy.length ? "warning" : "ok", value, {
    detail: rows.join("\n"),
    fix: "Another process is using these GPUs: see nvidia-smi's process list, stop it, or pick other GPUs with CUDA_VISIBLE_DEVICES.",
  });
}

export function topologyCheck(topo: Topology): Check | undefined {
  if (topo.links.length === 0) return undefined;
  const kinds = [...new Set(topo.links.map((l) => l.raw))];
  const slowPath = topo.links.filter((l) => ["PHB", "NODE", "SYS", "unknown"].includes(l.kind));
  const matrix = [];
  for (let a = 0; a < topo.gpus; a++) {
    const row = [];
    for (let b = 0; b < topo.gpus; b++) {
      if (a === b) row.push("X");
      else row.push(topo.links.find((l) => l.a === Math.min(a, b) && l.b === Math.max(a, b))?.raw ?? "?");
    }
    matrix.push(`GPU${a}: ${row.map((c) => c.padEnd(4)).join(" ")}`.trimEnd());
  }
  const allNv = topo.links.every((l) => l.kind === "nvlink");
  const value = allNv ? `NVLink between every pair (${kinds.join(", ")})` : `PCIe paths: ${kinds.join(", ")}`;
  return check("gpu.topology", "Topology", slowPath.length ? "warning" : "ok", value, {
    detail: matrix.join("\n") + "\nNV# = bonded NVLinks; PIX/PXB = PCIe switch; PHB = through the CPU's host bridge; NODE/SYS = across NUMA nodes or sockets.",
    fix: "These pairs talk through the CPU, so collectives run at a fraction of PCIe speed. Expect slower multi-GPU steps; prefer GPUs under one PCIe switch (see CUDA_VISIBLE_DEVICES).",
    data: topo,
  });
}

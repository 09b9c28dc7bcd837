// The dtypes a config will really load, compute and save in (catching a float32 left at the
// default), and the bf16 matmul rate against the GPU's datasheet peak. Pure.
import { check, type Check } from "./report.ts";
import type { MatmulResult, Outcome } from "./probe.ts";
import { bf16Peak } from "./specs.ts";
import { GOOD_FRACTION } from "./specs.ts";

/** The config keys that decide precision (LLaMA-Factory's names). */
export interface PrecisionConfig {
  bf16: boolean;
  fp16: boolean;
  finetuning_type: "full" | "lora";
  device?: "auto" | "cuda" | "cpu";
}

export interface Dtypes {
  load: string;
  compute: string;
  save: string;
}

/** Mirrors the resolver's rule (src/runs/resolve.ts): CPU runs float32; LoRA keeps the frozen base in the compute dtype. */
export function dtypesFor(c: PrecisionConfig, onGpu: boolean): Dtypes {
  if (!onGpu) return { load: "float32", compute: "float32", save: "float32" };
  const compute = c.bf16 ? "bfloat16" : c.fp16 ? "float16" : "float32";
  const load = c.finetuning_type === "lora" ? compute : "float32";
  return { load: c.finetuning_type === "lora" ? `${load} (frozen base)` : `${load} (master weights)`, compute, save: compute };
}

export function precisionCheck(c: PrecisionConfig, hw: { gpu: boolean; bf16: boolean | null }, file: string): Check {
  const onGpu = hw.gpu && c.device !== "cpu";
  const d = dtypesFor(c, onGpu);
  const value = `load ${d.load}, compute ${d.compute}, save ${d.save}`;
  const title = "Precision of the config";
  if (!onGpu) {
    return check("precision.config", title, "ok", value, { detail: `${file}: runs on the CPU compute in float32${c.bf16 || c.fp16 ? " (bf16/fp16 are ignored there)" : ""}.` });
  }
  if (c.bf16 && hw.bf16 === false) {
    return check("precision.config", title, "failure", value, { detail: `${file}: bf16 is true but these GPUs have no bfloat16 (compute capability below 8.0).`, fix: `${file}: set bf16: false and fp16: true.` });
  }
  if (!c.bf16 && c.fp16 && hw.bf16 !== false) {
    return check("precision.config", title, "warning", value, { detail: `${file}: fp16 needs loss scaling and can overflow; these GPUs have bfloat16.`, fix: `${file}: set bf16: true and fp16: false.` });
  }
  if (!c.bf16 && !c.fp16) {
    return check("precision.config", title, "warning", value, {
      detail: `${file}: neither bf16 nor fp16 is set, so the run computes in float32 (the default): about half the speed and twice the activation memory.`,
      fix: `${file}: set ${hw.bf16 === false ? "fp16" : "bf16"}: true.`,
    });
  }
  return check("precision.config", title, "ok", value, { detail: file });
}

export function matmulCheck(m: Outcome<MatmulResult>): Check | undefined {
  const title = "bf16 matmul rate";
  if (!m.ok) return check("precision.matmul", title, "failure", "probe failed", { detail: m.error, fix: "A bf16 matmul failed on the GPU: check nvidia-smi -q for errors (Xid in dmesg) and the torch CUDA build." });
  const devs = m.value.devices;
  if (devs.length === 0) return undefined;
  const rows = devs.map((d) => ({ ...d, peak: bf16Peak(d.name) }));
  const fracs = rows.filter((r) => r.peak).map((r) => r.tflops / r.peak!.tflops);
  const low = rows.filter((r) => r.peak && r.tflops / r.peak.tflops < GOOD_FRACTION.matmul);
  const min = Math.min(...rows.map((r) => r.tflops));
  const peak = rows[0]!.peak;
  const value = `${min.toFixed(0)} TFLOP/s (slowest of ${rows.length}, ${devs[0]!.n}³)` + (peak && fracs.length ? `, ${(Math.min(...fracs) * 100).toFixed(0)}% of ${peak.tflops} peak` : ", no datasheet peak for this GPU");
  return check("precision.matmul", title, low.length ? "warning" : "ok", value, {
    detail: rows.map((r) => `GPU${r.index} ${r.name}: ${r.tflops.toFixed(1)} TFLOP/s` + (r.peak ? ` of ${r.peak.tflops} (${r.peak.source})` : "")).join("\n"),
    fix: `GPU ${low.map((r) => r.index).join(", ")} below ${GOOD_FRACTION.matmul * 100}% of peak: look for a lowered power limit or clocks (nvidia-smi -q -d PERFORMANCE,POWER), heat, or another process on it.`,
    data: rows.map(({ peak: p, ...r }) => ({ ...r, peak_tflops: p?.tflops ?? null })),
  });
}

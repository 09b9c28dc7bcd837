// Judging the Python side: the interpreter, torch and its CUDA/NCCL, the libraries, the devices
// torch sees against nvidia-smi's count. Pure.
import { check, type Check } from "./report.ts";
import type { Outcome, PythonEnv } from "./probe.ts";

const REQUIRED = ["transformers", "peft"];
const OPTIONAL = ["deepspeed"];

export function pythonChecks(python: string | Error, env: Outcome<PythonEnv> | null, smiVisible: number, smiPresent: boolean): Check[] {
  if (python instanceof Error) {
    return [check("python.interpreter", "Python", "failure", "not found", { detail: python.message, fix: "Run 'npm run setup', or set WHET_PYTHON to a Python with torch installed." })];
  }
  if (!env || !env.ok) {
    return [check("python.interpreter", "Python", "failure", python, { detail: env?.error ?? "", fix: "Run the probe by hand (PYTHONPATH=worker " + python + " -m whet_doctor env) to see why, then repair the environment ('npm run setup')." })];
  }
  const e = env.value;
  const checks: Check[] = [check("python.interpreter", "Python", "ok", `${e.python.version} at ${e.python.executable}`)];
  const t = e.torch;
  if (!t) {
    checks.push(check("python.torch", "torch", "failure", "does not import", { detail: e.torch_error ?? "", fix: `Install torch into this Python: ${python} -m pip install torch (see pytorch.org for the CUDA build).` }));
    return checks;
  }
  const cpuBuild = smiPresent && !t.cuda_build;
  const value = `${t.version}` + (t.cuda_build ? `, CUDA ${t.cuda_build}` : ", CPU build") + (t.nccl ? `, NCCL ${t.nccl}` : "");
  checks.push(check("python.torch", "torch", cpuBuild ? "failure" : "ok", value, {
    detail: `gloo ${t.gloo_available ? "available" : "missing"}, NCCL ${t.nccl_available ? "available" : "missing"}`,
    fix: `nvidia-smi lists GPUs but this torch is a CPU build. Install a CUDA build: ${python} -m pip install torch --index-url https://download.pytorch.org/whl/cu128`,
  }));
  const missing = REQUIRED.filter((p) => !e.packages[p]);
  const listed = [...REQUIRED, ...OPTIONAL].map((p) => `${p} ${e.packages[p] ?? (OPTIONAL.includes(p) ? "not installed (optional)" : "missing")}`);
  checks.push(check("python.packages", "Libraries", missing.length ? "failure" : "ok", listed.join(", "), {
    fix: `Install ${missing.join(" and ")}: ${python} -m pip install ${missing.join(" ")}`,
  }));
  if (smiPresent || t.device_count > 0) {
    const mask = e.cuda_visible_devices;
    const value = `torch sees ${t.device_count}, nvidia-smi ${smiVisible}` + (mask !== null ? ` (CUDA_VISIBLE_DEVICES=${mask})` : "");
    const verdict = t.device_count === smiVisible ? "ok" : "failure";
    checks.push(check("python.devices", "Devices torch sees", verdict, value, {
      detail: t.devices.map((d) => `cuda:${d.index} ${d.name}, capability ${d.capability}`).join("\n"),
      fix: t.device_count === 0
        ? (t.cuda_available ? "torch sees no device: check CUDA_VISIBLE_DEVICES." : "torch.cuda.is_available() is false: the torch CUDA build does not match the driver, or the container has no GPU access (--gpus all).")
        : "The counts differ: check CUDA_VISIBLE_DEVICES (indices, not UUIDs, are counted here) and that no GPU is in a broken state (nvidia-smi -q).",
    }));
  }
  return checks;
}

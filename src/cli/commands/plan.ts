// `whet plan CONFIG [key=value ...]`: predicted memory per GPU before launch, and with --fit the
// fastest batch/checkpointing/sharding/offload setting that fits. Reads files; src/plan/ is pure.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { WhetError, renderProblem } from "../../errors.ts";
import { parse, intOption } from "../args.ts";
import { loadConfig } from "../../config/load.ts";
import { visibleGpus } from "../../launch/hardware.ts";
import { cachedSnapshot } from "../../runs/model.ts";
import { QUICKSTART_CONFIG } from "../../runs/prepare.ts";
import { planInputFromConfig } from "../../plan/from-config.ts";
import { planRun } from "../../plan/planner.ts";
import { fitRun, type FitResult } from "../../plan/fit.ts";
import { GiB, planJson, renderFit, renderPlan } from "../../plan/render.ts";
import { STAGES, type Offload, type Stage } from "../../plan/states.ts";
import type { Command } from "./index.ts";

const OPTIONS = {
  gpus: { type: "string" },
  "gpu-memory": { type: "string" },
  json: { type: "boolean" },
  fit: { type: "boolean" },
  margin: { type: "string" },
  sharding: { type: "string" },
  offload: { type: "string" },
} as const;

const HELP = `Usage: whet plan [CONFIG] [key=value ...] [options]

Predicts each GPU's memory for the run CONFIG (default: the quickstart) describes (weights, gradients, optimizer states,
activations, logits, buffers, runtime overhead) at the end of forward, in backward and in the
optimizer step, and the host RAM offload needs. Nothing is launched. See docs/memory.md.

Options:
  --gpus N             GPUs taking part (default: the visible GPUs, else 1)
  --gpu-memory GiB     memory of one GPU (default: the smallest visible GPU, else 80)
  --margin F           fraction of GPU memory kept free (default 0.1)
  --sharding S         none (ddp) | zero1 | zero2 | zero3 (default: the config's deepspeed/sharding, else none)
  --offload O          none | optimizer | params+optimizer
  --fit                search micro-batch (global batch kept), accumulation, checkpointing,
                       sharding and offload for the fastest setting that fits
  --json               one JSON object on stdout`;

function floatOption(value: string | undefined, name: string, min: number, max = Infinity): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new WhetError("USAGE", [{ where: `--${name}`, message: `expected a number from ${min} to ${max}, got "${value}".` }]);
  return n;
}

/** config.json of model_name_or_path: a local folder (relative to the config's folder) or a hub-cache snapshot. */
function readModelConfig(value: string, configDir: string, where: string): Record<string, unknown> {
  const local = [isAbsolute(value) ? value : resolve(configDir, value), resolve(value)].find((p) => existsSync(p) && statSync(p).isDirectory());
  const folder = local ?? cachedSnapshot(value);
  const file = folder && join(folder, "config.json");
  if (!file || !existsSync(file)) {
    throw new WhetError("FILE_NOT_FOUND", [{ where, message: `${value} has no config.json here or in the Hugging Face cache. Point model_name_or_path at a folder with config.json (weights are not needed to plan).` }]);
  }
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new WhetError("MODEL_INVALID", [{ where: file, message: `is not valid JSON (${(e as Error).message}). Restore the file.` }]);
  }
}

export const planCommand: Command = {
  name: "plan",
  summary: "predict GPU memory for a config before launch (--fit: find settings that fit)",
  help: () => HELP,
  async run(argv) {
    const { values, positionals } = parse("plan", argv, OPTIONS);
    const overrides = positionals.filter((p) => p.includes("=") && !existsSync(p));
    const paths = positionals.filter((p) => !overrides.includes(p));
    if (paths.length > 1) throw new WhetError("USAGE", `expected one CONFIG, got ${paths.join(", ")}. Pass overrides as key=value.`);
    const configPath = resolve(paths[0] ?? QUICKSTART_CONFIG);
    const loaded = loadConfig(configPath, overrides);
    const config = loaded.config as unknown as Record<string, unknown>;
    const human = (s: string) => process.stderr.write(s + "\n");
    for (const w of loaded.warnings) human(`warning: ${renderProblem(w)}`);

    const notes: string[] = [];
    // nvidia-smi is asked only for what the options leave open.
    const visible = values.gpus === undefined || values["gpu-memory"] === undefined ? visibleGpus() : [];
    const world = intOption(values.gpus, "gpus") ?? Math.max(1, visible.length);
    if (world < 1) throw new WhetError("USAGE", [{ where: "--gpus", message: "must be at least 1." }]);
    let gpuMemoryBytes = (floatOption(values["gpu-memory"], "gpu-memory", 1) ?? 0) * GiB;
    if (!gpuMemoryBytes && visible.length) gpuMemoryBytes = Math.min(...visible.map((g) => g.memoryMiB)) * 1024 ** 2;
    if (!gpuMemoryBytes) {
      gpuMemoryBytes = 80 * GiB;
      notes.push("no GPU is visible and no --gpu-memory was given: planned for 80 GiB GPUs");
    }
    const margin = floatOption(values.margin, "margin", 0, 0.9) ?? 0.1;

    const modelValue = String(config.model_name_or_path ?? "");
    const modelConfig = readModelConfig(modelValue, dirname(configPath), `${configPath} model_name_or_path`);
    const from = planInputFromConfig(config, modelConfig, world, `${modelValue}/config.json`);
    notes.push(...from.notes);
    const input = { ...from.input };
    if (values.sharding !== undefined) {
      const s = values.sharding === "ddp" ? "none" : values.sharding;
      if (!(STAGES as string[]).includes(s)) throw new WhetError("USAGE", [{ where: "--sharding", message: `must be none, zero1, zero2 or zero3, got "${s}".` }]);
      input.stage = s as Stage;
    }
    if (values.offload !== undefined) {
      if (!["none", "optimizer", "params+optimizer"].includes(values.offload)) throw new WhetError("USAGE", [{ where: "--offload", message: `must be none, optimizer or params+optimizer, got "${values.offload}".` }]);
      input.offload = values.offload as Offload;
    }

    const plan = planRun(input);
    const fit: FitResult | undefined = values.fit ? fitRun(input, { gpuMemoryBytes, margin }) : undefined;
    if (values.json) {
      process.stdout.write(JSON.stringify(planJson(plan, gpuMemoryBytes, margin, { notes, fit })) + "\n");
      return 0;
    }
    const out = [renderPlan(plan, gpuMemoryBytes, margin), ...notes.map((n) => `note: ${n}`)];
    if (fit) out.push("", renderFit(fit));
    process.stdout.write(out.join("\n") + "\n");
    return 0;
  },
};

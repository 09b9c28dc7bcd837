// `deepspeed: path/to/ds_config.json` in a (LLaMA-Factory) run config: find the file, read it, and
// turn it into Whetstone's own `sharding` and `offload` values with mapDeepSpeedConfig.
// LLaMA-Factory's examples name the file relative to a LLaMA-Factory checkout
// (examples/deepspeed/ds_z3_config.json) while the YAML sits in examples/train_full/, so a relative
// path is tried against the config's folder, then each folder above it, then the working folder.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { WhetError, type Problem } from "../errors.ts";
import { displayPath } from "../data/read.ts";
import { mapDeepSpeedConfig, type DeepSpeedMapping, type Offload, type Strategy } from "./deepspeed.ts";

/** The run config fields the mapping reads, plus the raw `deepspeed` value (not a RunConfig key). */
export interface DeepSpeedInput {
  deepspeed?: unknown;
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  max_grad_norm: number;
  bf16: boolean;
  fp16: boolean;
}

export interface AppliedDeepSpeed {
  /** Absolute path of the DeepSpeed JSON that was read. */
  file: string;
  sharding: Strategy;
  offload: Offload;
  /** Everything in the JSON that is not honoured, each naming the file and the key. */
  warnings: Problem[];
  mapping: DeepSpeedMapping;
}

/** Values of `deepspeed:` that mean "no DeepSpeed". */
const OFF = new Set(["", "none", "null", "false"]);

/** Where a relative path is looked for, in order: the config's folder, its ancestors, the cwd. */
export function candidatePaths(value: string, configDir: string, cwd = process.cwd()): string[] {
  if (isAbsolute(value)) return [value];
  const out: string[] = [];
  for (let dir = resolve(configDir); ; dir = dirname(dir)) {
    out.push(join(dir, value));
    if (dirname(dir) === dir) break;
  }
  const fromCwd = resolve(cwd, value);
  return out.includes(fromCwd) ? out : [...out, fromCwd];
}

/**
 * Maps the config's `deepspeed` file to sharding/offload. Undefined when the key is absent or off.
 * `worldSize` is known only at launch; without it an explicit train_batch_size is not checked.
 */
export function applyDeepSpeed(config: DeepSpeedInput, configDir: string, opts: { worldSize?: number; cwd?: string; where?: string } = {}): AppliedDeepSpeed | undefined {
  const value = config.deepspeed;
  if (value === undefined || value === null || value === false) return undefined;
  const where = opts.where ?? "deepspeed";
  if (typeof value !== "string") {
    throw new WhetError("CONFIG_INVALID", [{ where, message: `expected the path of a DeepSpeed JSON file, got ${JSON.stringify(value)}. Write deepspeed: examples/deepspeed/ds_z3_config.json, or use sharding: zero3 directly.` }]);
  }
  if (OFF.has(value.trim().toLowerCase())) return undefined;
  const tries = candidatePaths(value, configDir, opts.cwd);
  const file = tries.find((p) => existsSync(p) && statSync(p).isFile());
  if (!file) {
    const shown = tries.length > 4 ? [...tries.slice(0, 2), "...", tries[tries.length - 1]!] : tries;
    throw new WhetError("FILE_NOT_FOUND", [
      {
        where,
        message: `${value} does not exist (looked in the config's folder, the folders above it and the working folder: ${shown.map((p) => (p === "..." ? p : displayPath(p))).join(", ")}). Fix the path, or replace the key with sharding: zero3 (or ddp, zero1, zero2) and offload: none.`,
      },
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new WhetError("CONFIG_INVALID", [{ where: displayPath(file), message: `is not valid JSON (${(e as Error).message}). Fix the DeepSpeed config.` }]);
  }
  const ds = structuredClone(raw);
  const warnings: Problem[] = [];
  if (opts.worldSize === undefined && isObject(ds) && typeof ds.train_batch_size === "number") {
    warnings.push({
      where: `${displayPath(file)} train_batch_size`,
      message: `is ${ds.train_batch_size}; the global batch is per_device_train_batch_size × gradient_accumulation_steps × processes, checked when the process count is known. Set it to "auto" to silence this.`,
    });
    ds.train_batch_size = "auto";
  }
  const mapping = mapDeepSpeedConfig(ds, displayPath(file), {
    microBatch: config.per_device_train_batch_size,
    accumulation: config.gradient_accumulation_steps,
    worldSize: opts.worldSize ?? 1,
    maxGradNorm: config.max_grad_norm,
    bf16: config.bf16,
    fp16: config.fp16,
  });
  return { file, sharding: mapping.strategy, offload: mapping.offload, warnings: [...warnings, ...mapping.warnings], mapping };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

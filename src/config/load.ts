// Loads a run config: read the file, parse YAML with positions, apply command-line overrides,
// validate, and either return the config with its warnings or throw one WhetError listing every
// problem. Codes: CONFIG_PARSE (not YAML, or not a mapping), CONFIG_UNKNOWN_KEY (unknown keys are
// the only problems), CONFIG_INVALID (anything else), FILE_NOT_FOUND (no such file).
// `config` keeps paths as written; resolve them against `configDir` (see paths.ts).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { stringify } from "yaml";
import { WhetError, type Problem } from "../errors.ts";
import type { RunConfig } from "./schema.ts";
import { parseYamlConfig } from "./yaml-source.ts";
import { parseOverrides, COMMAND_LINE } from "./overrides.ts";
import { validateConfig } from "./validate.ts";
import { applyDeepSpeed } from "../compat/apply-deepspeed.ts";

export interface LoadedConfig {
  config: RunConfig;
  warnings: Problem[];
  source: {
    /** The file as shown in messages (relative to the working folder when inside it), or the label. */
    file: string;
    text: string;
    /** Top-level key -> 1-based line in `text`. */
    lines: Map<string, number>;
  };
  /** Absolute folder that relative paths in the config are resolved against. */
  configDir: string;
  /** Keys the user set (file or command line) rather than left to their defaults. */
  given: Set<string>;
}

export function loadConfig(file: string, overrides: string[] = []): LoadedConfig {
  const shown = displayPath(file);
  if (!existsSync(file)) {
    throw new WhetError("FILE_NOT_FOUND", [{ where: shown, message: "does not exist. Check the path of the config file." }]);
  }
  if (statSync(file).isDirectory()) {
    throw new WhetError("FILE_NOT_FOUND", [{ where: shown, message: "is a folder, not a config file. Name the YAML file inside it." }]);
  }
  const text = readFileSync(file, "utf8");
  const { data, lines } = parseYamlConfig(text, shown);
  return finish(data, { file: shown, text, lines }, dirname(resolve(file)), overrides);
}

/** A config given as an object (the embedded quickstart); `label` stands for the file in messages. */
export function loadConfigObject(
  obj: Record<string, unknown>,
  label: string,
  opts: { configDir?: string; overrides?: string[] } = {},
): LoadedConfig {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new WhetError("CONFIG_PARSE", [{ where: label, message: "is not a mapping of keys to values. Pass an object." }]);
  }
  const source = { file: label, text: stringify(obj), lines: new Map<string, number>() };
  return finish({ ...obj }, source, resolve(opts.configDir ?? "."), opts.overrides ?? []);
}

function finish(data: Record<string, unknown>, source: LoadedConfig["source"], configDir: string, overrideArgs: string[]): LoadedConfig {
  const over = parseOverrides(overrideArgs);
  const fromCommandLine = new Set(Object.keys(over.values));
  const merged = { ...data, ...over.values };
  const lineOf = (key: string) => (fromCommandLine.has(top(key)) ? undefined : source.lines.get(top(key)));
  const where = (key: string) => {
    if (fromCommandLine.has(top(key))) return `${COMMAND_LINE} ${key}`;
    const line = lineOf(key);
    return line === undefined ? `${source.file} ${key}` : `${source.file}:${line} ${key}`;
  };
  // In file order; problems without a line (missing keys, the command line) after.
  const inOrder = <T extends { key: string }>(list: T[]) =>
    [...list].sort((a, b) => (lineOf(a.key) ?? Infinity) - (lineOf(b.key) ?? Infinity));
  const v = validateConfig(merged);
  const errors = [...inOrder(v.errors).map((p) => ({ where: where(p.key), message: p.message })), ...over.errors];
  if (errors.length > 0 || !v.config) {
    const onlyUnknown = over.errors.length === 0 && v.errors.every((p) => p.unknown);
    throw new WhetError(onlyUnknown ? "CONFIG_UNKNOWN_KEY" : "CONFIG_INVALID", errors);
  }
  const warnings = inOrder(v.warnings).map((p) => ({ where: where(p.key), message: p.message }));
  const config = withDeepSpeed(v.config, v.given, configDir, where, warnings);
  return { config, warnings, source, configDir, given: v.given };
}

/**
 * `deepspeed: ds_z3_offload_config.json` sets sharding and offload from the JSON (keys the user
 * also wrote win, with a warning when they disagree) and keeps the JSON, its "auto" values filled,
 * for the DeepSpeed engine. What the JSON asks and Whetstone does not honour is a warning.
 */
function withDeepSpeed(config: RunConfig, given: Set<string>, configDir: string, where: (key: string) => string, warnings: Problem[]): RunConfig {
  const applied = applyDeepSpeed(config, configDir, { where: where("deepspeed") });
  if (!applied) return config;
  warnings.push(...applied.warnings);
  // The mapping already warned where the JSON's precision overrides the config's.
  const out: RunConfig = { ...config, deepspeed_json: applied.mapping.filled, bf16: applied.mapping.bf16, fp16: applied.mapping.fp16 };
  for (const [key, value] of [["sharding", applied.sharding], ["offload", applied.offload]] as const) {
    if (!given.has(key)) (out as Record<string, unknown>)[key] = value;
    else if (config[key] !== value) {
      warnings.push({ where: where(key), message: `is ${config[key]} while ${applied.file} asks for ${value}; ${key}: ${config[key]} is used.` });
    }
  }
  return out;
}

function top(key: string): string {
  return key.split(".")[0]!;
}

function displayPath(file: string): string {
  const rel = relative(process.cwd(), resolve(file));
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
}

// The new-run form's server side: the config schema, a starting template, validation by the real
// loadConfig, a rendered sample with its loss mask, the memory prediction, and the launch.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { isWhetError, type Problem } from "../errors.ts";
import { loadConfigObject, type LoadedConfig } from "../config/load.ts";
import { configJsonSchema } from "../config/json-schema.ts";
import { REPO_ROOT } from "../launch/python.ts";
import { ApiError } from "./http.ts";
import { absolutize, configYaml, draftFromBody } from "./draft.ts";
import type { Launcher } from "./launcher.ts";

export const QUICKSTART = join(REPO_ROOT, "examples", "quickstart", "whet.yaml");

export interface FieldProblem extends Problem {
  /** The top-level config key the problem is about, when there is one. */
  key: string | null;
}

export interface Checked {
  raw: Record<string, unknown>;
  loaded: LoadedConfig | null;
  problems: FieldProblem[];
  warnings: FieldProblem[];
}

const LABEL = "config";

function withKey(p: Problem): FieldProblem {
  const m = p.where ? /^config(?::\d+)?\s+([A-Za-z_][\w]*)/.exec(p.where) : null;
  return { ...p, key: m?.[1] ?? null };
}

/** Validates a drafted config with the CLI's own loader; problems come back as data. */
export function checkDraft(body: Record<string, unknown>, baseDir: string): Checked {
  let raw: Record<string, unknown> = {};
  try {
    raw = absolutize(draftFromBody(body), baseDir);
    const loaded = loadConfigObject(raw, LABEL, { configDir: baseDir });
    return { raw, loaded, problems: [], warnings: loaded.warnings.map(withKey) };
  } catch (e) {
    if (!isWhetError(e)) throw e;
    return { raw, loaded: null, problems: e.problems.map(withKey), warnings: [] };
  }
}

/** The checked config, or a 422 listing its problems. */
export function requireValid(c: Checked): LoadedConfig {
  if (c.loaded) return c.loaded;
  throw new ApiError(422, "CONFIG_INVALID", `the config has ${c.problems.length} problem(s).`, { problems: c.problems });
}

export function schemaJson(): unknown {
  const file = join(REPO_ROOT, "schema", "config.schema.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : configJsonSchema();
}

/** The quickstart as a starting point, with its paths made absolute so it runs from anywhere. */
export function template(): { name: string; fields: Record<string, unknown> } {
  const fields = absolutize(parseYaml(readFileSync(QUICKSTART, "utf8")) as Record<string, unknown>, dirname(QUICKSTART));
  return { name: "quickstart", fields };
}

export function validateResponse(c: Checked) {
  return { ok: c.loaded !== null, problems: c.problems, warnings: c.warnings, yaml: configYaml(c.raw, "drafted in whet ui") };
}

/** Starts a run from a valid draft; its run directory is the config's output_dir. */
export function launchDraft(c: Checked, launcher: Launcher, name: unknown): { id: string } {
  const loaded = requireValid(c);
  const label = typeof name === "string" && name.trim() ? name : `${loaded.config.finetuning_type}-${loaded.config.stage}`;
  const { id, dir } = launcher.reserve(label);
  const { overwrite_output_dir: _drop, ...rest } = c.raw;
  launcher.start(dir, configYaml({ ...rest, output_dir: dir }, `written by whet ui for run ${id}`));
  return { id };
}

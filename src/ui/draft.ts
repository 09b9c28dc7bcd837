// A config drafted in the browser: form fields or pasted YAML, turned into the mapping that
// loadConfig validates and the file that `whet train` reads. The file is written into the run
// directory, so every relative path is first made absolute against the folder the dashboard
// works from (the server's working folder, or the quickstart's folder for its template).
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { stringify } from "yaml";
import { parseYamlConfig } from "../config/yaml-source.ts";
import { ApiError } from "./http.ts";

/** Keys whose value is a path relative to the config file's folder. */
const PATH_KEYS = ["model_name_or_path", "dataset_dir", "output_dir"] as const;

export function draftFromBody(body: Record<string, unknown>): Record<string, unknown> {
  if (typeof body.yaml === "string") {
    // parseYamlConfig throws a WhetError naming the line; the caller turns it into problems.
    return parseYamlConfig(body.yaml, "config.yaml").data;
  }
  if (body.fields && typeof body.fields === "object" && !Array.isArray(body.fields)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body.fields as Record<string, unknown>)) {
      if (v !== null && v !== undefined && v !== "") out[k] = v;
    }
    return out;
  }
  throw new ApiError(400, "BAD_REQUEST", "send {fields: {...}} or {yaml: \"...\"}.");
}

/** Relative paths made absolute against baseDir; dataset entries only when they name a file. */
export function absolutize(config: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  const out = { ...config };
  for (const key of PATH_KEYS) {
    const v = out[key];
    if (typeof v !== "string" || isAbsolute(v)) continue;
    const p = resolve(baseDir, v);
    // A model value that is not a local folder is a hub id and stays as written.
    if (key !== "model_name_or_path" || existsSync(p)) out[key] = p;
  }
  out.dataset_dir = typeof out.dataset_dir === "string" ? out.dataset_dir : resolve(baseDir, "data");
  if (typeof out.dataset === "string") {
    out.dataset = out.dataset
      .split(",")
      .map((d) => d.trim())
      .map((d) => (d && !isAbsolute(d) && existsSync(resolve(baseDir, d)) ? resolve(baseDir, d) : d))
      .join(",");
  }
  return out;
}

export function configYaml(config: Record<string, unknown>, note: string): string {
  return `# ${note}\n` + stringify(config);
}

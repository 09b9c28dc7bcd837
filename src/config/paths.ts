// Input paths (model, dataset_dir) are tried relative to the config file's folder first, so a
// config and its data can move together. output_dir is relative to the working folder, as in
// LLaMA-Factory, where `saves/...` lands beside the command, not beside the YAML.
// The loaded config keeps the values as written; callers resolve with these.
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { RunConfig } from "./schema.ts";

/** `value` if absolute, else `value` inside configDir. */
export function fromConfigDir(configDir: string, value: string): string {
  return isAbsolute(value) ? value : resolve(configDir, value);
}

export interface ConfigPaths {
  datasetDir: string;
  /** Absent when output_dir is not set (the run gets runs/<generated id>). */
  outputDir?: string;
  /** An existing local folder made absolute; otherwise the value as written (a hub id). */
  model: string;
}

export function configPaths(config: Pick<RunConfig, "dataset_dir" | "output_dir" | "model_name_or_path">, configDir: string): ConfigPaths {
  const local = fromConfigDir(configDir, config.model_name_or_path);
  return {
    datasetDir: fromConfigDir(configDir, config.dataset_dir),
    ...(config.output_dir === undefined ? {} : { outputDir: resolve(config.output_dir) }),
    model: existsSync(local) ? local : config.model_name_or_path,
  };
}

// Predicted memory per GPU for a drafted config, from the planner (src/plan/), as `whet plan
// --json` reports it. Reads the model's config.json only (no weights needed).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { LoadedConfig } from "../config/load.ts";
import { fromConfigDir } from "../config/paths.ts";
import { cachedSnapshot } from "../runs/model.ts";
import { visibleGpus } from "../launch/hardware.ts";
import { planInputFromConfig } from "../plan/from-config.ts";
import { planRun } from "../plan/planner.ts";
import { GiB, planJson } from "../plan/render.ts";
import { ApiError } from "./http.ts";

const MARGIN = 0.1;

export function predictMemory(loaded: LoadedConfig) {
  const { config, configDir } = loaded;
  const local = fromConfigDir(configDir, config.model_name_or_path);
  const folder = existsSync(join(local, "config.json")) ? local : cachedSnapshot(config.model_name_or_path);
  if (!folder) throw new ApiError(422, "MODEL_NOT_LOCAL", `${config.model_name_or_path} has no config.json here or in the Hugging Face cache, so its memory cannot be predicted yet.`);
  const modelConfig = JSON.parse(readFileSync(join(folder, "config.json"), "utf8")) as Record<string, unknown>;
  const gpus = config.device === "cpu" ? [] : visibleGpus();
  const world = typeof config.nproc === "number" ? config.nproc : Math.max(1, gpus.length);
  const notes: string[] = [];
  let gpuMemoryBytes = gpus.length ? Math.min(...gpus.map((g) => g.memoryMiB)) * 1024 ** 2 : 0;
  if (!gpuMemoryBytes) {
    gpuMemoryBytes = 80 * GiB;
    notes.push("no GPU is visible: planned for 80 GiB GPUs");
  }
  const from = planInputFromConfig(config as unknown as Record<string, unknown>, modelConfig, world, `${config.model_name_or_path}/config.json`);
  return planJson(planRun(from.input), gpuMemoryBytes, MARGIN, { notes: [...notes, ...from.notes] });
}

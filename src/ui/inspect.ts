// One rendered training sample for the form: the data module's own inspectData (the text
// `whet data inspect` prints), split into trained and untrained pieces for the browser.
import { existsSync } from "node:fs";
import { inspectData } from "../data/index.ts";
import { resolveModel, cachedSnapshot } from "../runs/model.ts";
import { fromConfigDir } from "../config/paths.ts";
import type { LoadedConfig } from "../config/load.ts";
import { ApiError } from "./http.ts";

export interface Segment {
  text: string;
  trained: boolean;
}

export interface InspectResult {
  title: string;
  segments: Segment[];
  summary: string;
}

const GREEN = "\x1b[32m";
const RESET = "\x1b[0m";

/** Splits inspectData's coloured text: green is trained, the rest is not. */
export function parseInspect(text: string): InspectResult {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith("--- text"));
  const end = lines.findIndex((l) => l.startsWith("--- tokens"));
  const summary = lines.find((l) => l.startsWith("tokens: ")) ?? "";
  if (start < 0 || end < 0) return { title: "", segments: [{ text, trained: false }], summary };
  const body = lines.slice(start + 1, end).join("\n");
  const segments: Segment[] = [];
  let trained = false;
  for (const part of body.split(/(\x1b\[32m|\x1b\[0m)/)) {
    if (part === GREEN) trained = true;
    else if (part === RESET) trained = false;
    else if (part) segments.push({ text: part, trained });
  }
  return { title: lines.slice(0, start).join(" "), segments, summary };
}

export async function inspectSample(loaded: LoadedConfig, index: number): Promise<InspectResult> {
  const { config, configDir } = loaded;
  const local = fromConfigDir(configDir, config.model_name_or_path);
  if (!existsSync(local) && !cachedSnapshot(config.model_name_or_path)) {
    throw new ApiError(422, "MODEL_NOT_LOCAL", `${config.model_name_or_path} is not a local folder nor in the Hugging Face cache yet; the sample can be shown once it is.`);
  }
  const model = resolveModel(config.model_name_or_path, { configDir, randomInit: true, where: "model_name_or_path" });
  const dataset = config.dataset.split(",").map((s) => s.trim()).filter(Boolean)[0] ?? "";
  const text = await inspectData({
    dataset,
    datasetDir: fromConfigDir(configDir, config.dataset_dir),
    configDir,
    stage: config.stage,
    template: config.template ?? null,
    tokenizerDir: model.path,
    cutoffLen: config.cutoff_len,
    trainOnPrompt: config.train_on_prompt,
    maskHistory: config.mask_history,
    placeholders: config.dataset_placeholders ?? null,
    index,
    color: true,
    maxTokens: 0,
  });
  return parseInspect(text);
}

// `whet import llamafactory CONFIG`: the native Whetstone YAML equivalent of a LLaMA-Factory train
// config. Keys Whetstone shares are copied with their validated values; everything that does not
// map one to one (dropped keys, warned keys, deepspeed -> sharding/offload, hub model ids, dataset
// names -> files, template aliases) is said in a comment beside or above it. A config whetstone
// refuses fails exactly as `whet train` would.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { WhetError, renderProblem, type Problem } from "../errors.ts";
import { loadConfig, type LoadedConfig } from "../config/load.ts";
import { parseYamlConfig } from "../config/yaml-source.ts";
import { parseOverrides } from "../config/overrides.ts";
import { RunConfigSchema, SECTIONS } from "../config/schema.ts";
import { IGNORED, UNSUPPORTED, isOff } from "../config/compat-keys.ts";
import { fromConfigDir } from "../config/paths.ts";
import { resolveDatasetDir, resolveDatasets } from "../data/registry.ts";
import { displayPath } from "../data/read.ts";
import { LF_ALIASES } from "../data/templates/llamafactory.ts";
import { recogniseConfig } from "./config-kind.ts";
import { applyDeepSpeed } from "./apply-deepspeed.ts";

export interface Imported {
  /** The native config, YAML with comments. */
  text: string;
  /** The warnings whet train would print for the original file. */
  warnings: Problem[];
}

const OWN = new Set(Object.keys(RunConfigSchema.shape));

/** The native keys a DeepSpeed JSON maps to. */
const ENGINE_KEYS = ["sharding", "offload"] as const;

export function importLlamaFactory(file: string, overrides: string[] = []): Imported {
  const shown = displayPath(resolve(file));
  if (existsSync(file)) {
    const { data, lines } = parseYamlConfig(readFileSync(file, "utf8"), shown);
    const raw = { ...data, ...parseOverrides(overrides).values };
    const kind = recogniseConfig(raw);
    if (kind.kind !== "train" && kind.kind !== "preprocess") {
      const line = kind.key ? lines.get(kind.key) : undefined;
      throw new WhetError("CONFIG_INVALID", [{ where: line ? `${shown}:${line} ${kind.key}` : shown, message: kind.message }]);
    }
    const loaded = loadConfig(file, overrides); // the usual errors for refused configs
    return { text: render(loaded, raw, shown, kind.kind === "preprocess" ? kind.message : undefined), warnings: loaded.warnings };
  }
  loadConfig(file, overrides); // FILE_NOT_FOUND, as whet train says it
  throw new Error("unreachable");
}

function scalar(v: unknown): string {
  // 1.0e-5 rather than 0.00001, as LLaMA-Factory's files write learning rates.
  if (typeof v === "number" && !Number.isInteger(v) && Math.abs(v) < 1e-3) {
    const [m, e] = v.toExponential().split("e");
    return `${m!.includes(".") ? m : `${m}.0`}e${e!.replace("+", "")}`;
  }
  return stringify(v, { lineWidth: 0 }).trimEnd();
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ");
}

function render(loaded: LoadedConfig, raw: Record<string, unknown>, shown: string, preprocessNote: string | undefined): string {
  const { config, given, configDir } = loaded;
  const c = config as Record<string, unknown>;
  const out: string[] = [
    `# Whetstone config imported from the LLaMA-Factory config ${shown} (whet import llamafactory).`,
    "# Run it with: whet train <this file>. Comments mark where the mapping is not one to one.",
  ];
  for (const w of loaded.warnings) out.push(`# warning: ${oneLine(renderProblem(w))}`);
  if (preprocessNote) out.push(`# note: ${oneLine(preprocessNote)}`);

  const emitted = new Set<string>();
  const notes = new Map<string, string[]>(); // key -> comment lines written above it
  const note = (key: string, text: string) => notes.set(key, [...(notes.get(key) ?? []), oneLine(text)]);
  const values = new Map<string, unknown>();
  for (const key of OWN) if (given.has(key)) values.set(key, c[key]);
  if (given.has("disable_gradient_checkpointing")) {
    values.delete("disable_gradient_checkpointing");
    values.set("gradient_checkpointing", c.gradient_checkpointing);
    note("gradient_checkpointing", `from disable_gradient_checkpointing: ${scalar(raw.disable_gradient_checkpointing)}`);
  }

  // Paths become absolute so the imported file works wherever it is saved.
  const model = String(c.model_name_or_path);
  const localModel = fromConfigDir(configDir, model);
  if (existsSync(localModel)) {
    if (localModel !== model) note("model_name_or_path", `${model} relative to ${displayPath(configDir)}`);
    values.set("model_name_or_path", localModel);
  } else {
    note("model_name_or_path", `${model} is a Hugging Face hub id: whet uses the copy in the Hugging Face cache, downloading it once when online. Point this at a local folder to train offline.`);
  }
  const dataDir = resolveDatasetDir(String(c.dataset_dir), configDir);
  if (existsSync(dataDir)) {
    values.set("dataset_dir", dataDir);
    if (!given.has("dataset_dir")) note("dataset_dir", "LLaMA-Factory's default (data) made explicit");
  } else {
    note("dataset_dir", `${String(c.dataset_dir)} does not exist here (LLaMA-Factory reads it relative to the folder you run in). Set it to the folder holding dataset_info.json.`);
  }
  const names = String(c.dataset).split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    try {
      const [spec] = resolveDatasets([name], { datasetDir: String(c.dataset_dir), configDir });
      note("dataset", `${name} -> ${spec!.file} (${spec!.formatting}${spec!.registry ? `, from ${spec!.registry}` : ""})`);
      for (const w of spec!.warnings) note("dataset", `warning: ${renderProblem(w)}`);
    } catch (e) {
      note("dataset", `${name}: not resolved here: ${e instanceof WhetError ? e.message : String(e)}`);
    }
  }
  if (typeof c.template === "string" && LF_ALIASES[c.template]) {
    note("template", `LLaMA-Factory's ${c.template} renders like whet's ${LF_ALIASES[c.template]}`);
    values.set("template", LF_ALIASES[c.template]);
  }

  // deepspeed -> sharding/offload, the native keys; the JSON itself only matters to the DeepSpeed
  // backend, so it stays as a comment with its absolute path.
  values.delete("deepspeed");
  const ds = applyDeepSpeed({ ...config, deepspeed: raw.deepspeed }, configDir, { where: `${shown} deepspeed` });
  if (ds) {
    const from = `from deepspeed: ${scalar(raw.deepspeed)} (${ds.file})`;
    for (const k of ENGINE_KEYS) {
      if (given.has(k)) continue;
      values.set(k, ds[k]);
      note(k, k === "sharding" ? `${from}: its ZeRO stage` : `${from}: its offload settings`);
    }
    for (const w of ds.warnings) note("sharding", `warning: ${renderProblem(w)}`);
    note("distributed_backend", `with distributed_backend: deepspeed, also keep the JSON: deepspeed: ${ds.file}`);
  }

  for (const [section, shape] of Object.entries(SECTIONS)) {
    const keys = Object.keys(shape).filter((k) => values.has(k) || notes.has(k));
    if (keys.length === 0) continue;
    out.push("", `### ${section}`);
    for (const k of keys) {
      for (const n of notes.get(k) ?? []) out.push(`# ${n}`);
      if (values.has(k)) out.push(`${k}: ${scalar(values.get(k))}`);
      emitted.add(k);
    }
  }
  // Own keys the schema has outside SECTIONS (none today) still travel.
  for (const [k, v] of values) if (!emitted.has(k)) out.push(`${k}: ${scalar(v)}`);

  const dropped: string[] = [];
  const warned: string[] = [];
  for (const key of Object.keys(raw)) {
    if (raw[key] === null || raw[key] === undefined || key === "deepspeed") continue;
    const v = scalar(raw[key]).split("\n")[0];
    if (key in IGNORED) dropped.push(`#   ${key}: ${v}   (${IGNORED[key]!.text})`);
    else if (key in UNSUPPORTED && isOff(UNSUPPORTED[key]!, raw[key])) dropped.push(`#   ${key}: ${v}   (the default here too)`);
    else if (key in UNSUPPORTED) warned.push(`#   ${key}: ${v}   (not supported yet: ${UNSUPPORTED[key]!.text})`);
  }
  if (warned.length) out.push("", "### LLaMA-Factory keys whet does not support yet (whet train warns about them)", ...warned);
  if (dropped.length) out.push("", "### LLaMA-Factory keys dropped: they change nothing here", ...dropped);
  return out.join("\n") + "\n";
}

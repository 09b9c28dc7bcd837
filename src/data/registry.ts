// Resolves `dataset: a,b` through LLaMA-Factory's dataset_info.json (or direct file paths).
import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { closest } from "fastest-levenshtein";
import { WhetError } from "../errors.ts";
import { displayPath } from "./read.ts";
import type { Columns, DatasetSpec, Tags } from "./types.ts";

export interface ResolveOptions {
  /** dataset_dir from the config; relative paths are tried against configDir, then the current directory. */
  datasetDir: string;
  /** Folder of the config file. */
  configDir: string;
}

const FILE_EXT = /\.(json|jsonl|txt)$/i;
const COLUMN_KEYS = ["prompt", "query", "response", "history", "messages", "system", "tools"] as const;
const TAG_KEYS = ["role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"] as const;
const UNSUPPORTED_COLUMNS = ["images", "videos", "audios"];

/** The dataset folder: `dir` itself if absolute, else configDir/dir if it exists, else cwd/dir. */
export function resolveDatasetDir(dir: string, configDir: string): string {
  if (isAbsolute(dir)) return dir;
  const fromConfig = resolve(configDir, dir);
  if (existsSync(fromConfig)) return fromConfig;
  return resolve(process.cwd(), dir);
}

/** Resolves each name into a local file and its format. Throws WhetError on the first bad name. */
export function resolveDatasets(names: string[], opts: ResolveOptions): DatasetSpec[] {
  const dir = resolveDatasetDir(opts.datasetDir, opts.configDir);
  const infoPath = join(dir, "dataset_info.json");
  let info: Record<string, unknown> | undefined;
  let infoText = "";
  const loadInfo = (): Record<string, unknown> => {
    if (info) return info;
    if (!existsSync(infoPath)) return {};
    infoText = readFileSync(infoPath, "utf8");
    try {
      const parsed: unknown = JSON.parse(infoText);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      info = parsed as Record<string, unknown>;
    } catch (e) {
      throw new WhetError("DATASET_INVALID", [
        { where: displayPath(infoPath), message: `is not a valid JSON object (${(e as Error).message}). Fix the file.` },
      ]);
    }
    return info;
  };
  return names.map((raw) => {
    const name = raw.trim();
    const reg = loadInfo();
    if (Object.hasOwn(reg, name)) return fromEntry(name, reg[name], dir, infoPath, infoText);
    if (FILE_EXT.test(name)) return fromPath(name, dir, opts.configDir);
    const keys = Object.keys(reg);
    if (keys.length === 0) {
      throw new WhetError("FILE_NOT_FOUND", [
        {
          where: `dataset ${name}`,
          message: `is not a file and ${displayPath(infoPath)} does not exist. Set dataset_dir to the folder holding dataset_info.json, or give a path to a .json or .jsonl file.`,
        },
      ]);
    }
    const hint = closest(name, keys);
    throw new WhetError("DATASET_INVALID", [
      { where: `dataset ${name}`, message: `is not registered in ${displayPath(infoPath)}. Did you mean "${hint}"?` },
    ]);
  });
}

function fromPath(name: string, dir: string, configDir: string): DatasetSpec {
  const tries = isAbsolute(name) ? [name] : [resolve(configDir, name), resolve(process.cwd(), name), resolve(dir, name)];
  const file = tries.find((p) => existsSync(p)) ?? tries[0]!;
  if (!existsSync(file)) {
    throw new WhetError("FILE_NOT_FOUND", [
      { where: `dataset ${name}`, message: `does not exist (looked in ${tries.map(displayPath).join(", ")}). Check the path.` },
    ]);
  }
  return { name, file, formatting: "auto", columns: {}, tags: {} };
}

/** The line of `"name":` in dataset_info.json, for messages. */
function entryWhere(infoPath: string, text: string, name: string): string {
  const idx = text.indexOf(JSON.stringify(name) + ":") >= 0 ? text.indexOf(JSON.stringify(name) + ":") : text.indexOf(JSON.stringify(name));
  const line = idx < 0 ? 1 : text.slice(0, idx).split("\n").length;
  return `${displayPath(infoPath)}:${line} ${name}`;
}

function fromEntry(name: string, entry: unknown, dir: string, infoPath: string, infoText: string): DatasetSpec {
  const where = entryWhere(infoPath, infoText, name);
  const bad = (message: string) => new WhetError("DATASET_INVALID", [{ where, message }]);
  if (typeof entry !== "object" || entry === null) throw bad("is not an object. Give it a file_name and formatting.");
  const e = entry as Record<string, unknown>;
  if (typeof e.file_name !== "string") {
    const hub = [e.hf_hub_url, e.ms_hub_url, e.om_hub_url, e.script_url].find((x) => typeof x === "string");
    if (hub !== undefined) {
      throw bad(`is only on a hub (${String(hub)}), which is not available offline. Download it and point file_name at the local copy.`);
    }
    throw bad("has no file_name. Set file_name to a .json or .jsonl file in the dataset folder.");
  }
  const file = resolve(dir, e.file_name);
  if (!existsSync(file)) {
    throw new WhetError("FILE_NOT_FOUND", [
      { where, message: `file_name "${e.file_name}" does not exist in ${displayPath(dir)}. Put the file there or fix file_name.` },
    ]);
  }
  if (e.ranking === true) {
    throw bad("is a ranking (preference) dataset; ranking datasets need stage dpo/rm, which is not supported yet. Use an SFT dataset.");
  }
  if (statSync(file).isDirectory()) throw bad(`file_name "${e.file_name}" is a folder, which is not supported. Point it at one .json or .jsonl file.`);
  const formatting = e.formatting ?? "alpaca";
  if (formatting !== "alpaca" && formatting !== "sharegpt") throw bad(`has formatting "${String(formatting)}". Use alpaca or sharegpt.`);
  const cols = (typeof e.columns === "object" && e.columns !== null ? e.columns : {}) as Record<string, unknown>;
  const media = UNSUPPORTED_COLUMNS.find((c) => c in cols);
  if (media) throw bad(`has a "${media}" column: multimodal data is not supported. Use a text-only dataset.`);
  const columns: Columns = {};
  for (const k of COLUMN_KEYS) if (typeof cols[k] === "string") columns[k] = cols[k] as string;
  const tg = (typeof e.tags === "object" && e.tags !== null ? e.tags : {}) as Record<string, unknown>;
  const tags: Partial<Tags> = {};
  for (const k of TAG_KEYS) if (typeof tg[k] === "string") tags[k] = tg[k] as string;
  return { name, file, formatting, columns, tags };
}

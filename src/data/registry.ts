// Resolves `dataset: a,b` through LLaMA-Factory's dataset_info.json (or direct file paths).
// A name is looked up in these registries, in order (the first that lists it wins):
//   1. dataset_dir/dataset_info.json (dataset_dir relative to the config's folder, else the cwd);
//   2. the dataset_info.json next to the config file;
//   3. Whetstone's own registry: $WHET_DATASET_INFO, else ~/.config/whetstone/dataset_info.json.
// file_name is relative to the folder of the registry that listed the name.
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { closest } from "fastest-levenshtein";
import { WhetError, type Problem } from "../errors.ts";
import { displayPath } from "./read.ts";
import type { Columns, DatasetSpec, Tags } from "./types.ts";

export interface ResolveOptions {
  /** dataset_dir from the config; relative paths are tried against configDir, then the current directory. */
  datasetDir: string;
  /** Folder of the config file. */
  configDir: string;
  /** Whetstone's own registry file; default $WHET_DATASET_INFO, else ~/.config/whetstone/dataset_info.json. */
  userRegistry?: string;
}

/** A resolved dataset, with what in its registry entry is not honoured. */
export interface ResolvedDataset extends DatasetSpec {
  /** Keys of the entry that are ignored, each naming dataset_info.json:line and the key. */
  warnings: Problem[];
  /** The dataset_info.json that listed it; absent for direct file paths. */
  registry?: string;
}

const FILE_EXT = /\.(json|jsonl|txt)$/i;
const COLUMN_KEYS = ["prompt", "query", "response", "history", "messages", "system", "tools"] as const;
const TAG_KEYS = ["role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"] as const;
const UNSUPPORTED_COLUMNS = ["images", "videos", "audios"];
/** Where LLaMA-Factory downloads an entry from when it has no local file. */
const HUB_KEYS = ["hf_hub_url", "ms_hub_url", "om_hub_url", "script_url"] as const;
/** Entry keys that are read above, or harmless for a local file. */
const ENTRY_KEYS = new Set(["file_name", "formatting", "columns", "tags", "ranking", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "file_sha1"]);

export function userRegistryPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.WHET_DATASET_INFO ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "whetstone", "dataset_info.json");
}

/** The dataset folder: `dir` itself if absolute, else configDir/dir if it exists, else cwd/dir. */
export function resolveDatasetDir(dir: string, configDir: string): string {
  if (isAbsolute(dir)) return dir;
  const fromConfig = resolve(configDir, dir);
  if (existsSync(fromConfig)) return fromConfig;
  return resolve(process.cwd(), dir);
}

interface Registry {
  path: string;
  text: string;
  entries: Record<string, unknown>;
}

function readRegistry(path: string): Registry | undefined {
  if (!existsSync(path) || !statSync(path).isFile()) return undefined;
  const text = readFileSync(path, "utf8");
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    return { path, text, entries: parsed as Record<string, unknown> };
  } catch (e) {
    throw new WhetError("DATASET_INVALID", [{ where: displayPath(path), message: `is not a valid JSON object (${(e as Error).message}). Fix the file.` }]);
  }
}

/** Resolves each name into a local file and its format. Throws WhetError on the first bad name. */
export function resolveDatasets(names: string[], opts: ResolveOptions): ResolvedDataset[] {
  const dir = resolveDatasetDir(opts.datasetDir, opts.configDir);
  const infoPath = join(dir, "dataset_info.json");
  const paths = [...new Set([infoPath, join(resolve(opts.configDir), "dataset_info.json"), opts.userRegistry ?? userRegistryPath()])];
  let registries: Registry[] | undefined;
  const load = () => (registries ??= paths.map(readRegistry).filter((r): r is Registry => r !== undefined));
  return names.map((raw) => {
    const name = raw.trim();
    const found = load().find((r) => Object.hasOwn(r.entries, name));
    if (found) return fromEntry(name, found.entries[name], dirname(found.path), found.path, found.text);
    if (FILE_EXT.test(name)) return fromPath(name, dir, opts.configDir);
    const keys = load().flatMap((r) => Object.keys(r.entries));
    if (keys.length === 0) {
      throw new WhetError("FILE_NOT_FOUND", [
        {
          where: `dataset ${name}`,
          message: `is not a file and ${displayPath(infoPath)} does not exist. Set dataset_dir to the folder holding dataset_info.json, or give a path to a .json or .jsonl file.`,
        },
      ]);
    }
    const hint = closest(name, keys);
    const where = load().map((r) => displayPath(r.path)).join(" or ");
    throw new WhetError("DATASET_INVALID", [
      { where: `dataset ${name}`, message: `is not registered in ${where}. Did you mean "${hint}"?` },
    ]);
  });
}

function fromPath(name: string, dir: string, configDir: string): ResolvedDataset {
  const tries = isAbsolute(name) ? [name] : [resolve(configDir, name), resolve(process.cwd(), name), resolve(dir, name)];
  const file = tries.find((p) => existsSync(p)) ?? tries[0]!;
  if (!existsSync(file)) {
    throw new WhetError("FILE_NOT_FOUND", [
      { where: `dataset ${name}`, message: `does not exist (looked in ${tries.map(displayPath).join(", ")}). Check the path.` },
    ]);
  }
  return { name, file, formatting: "auto", columns: {}, tags: {}, warnings: [] };
}

/** The line of `"name":` in dataset_info.json, for messages. */
function entryWhere(infoPath: string, text: string, name: string): string {
  const idx = text.indexOf(JSON.stringify(name) + ":") >= 0 ? text.indexOf(JSON.stringify(name) + ":") : text.indexOf(JSON.stringify(name));
  const line = idx < 0 ? 1 : text.slice(0, idx).split("\n").length;
  return `${displayPath(infoPath)}:${line} ${name}`;
}

function fromEntry(name: string, entry: unknown, dir: string, infoPath: string, infoText: string): ResolvedDataset {
  const where = entryWhere(infoPath, infoText, name);
  const bad = (message: string) => new WhetError("DATASET_INVALID", [{ where, message }]);
  if (typeof entry !== "object" || entry === null) throw bad("is not an object. Give it a file_name and formatting.");
  const e = entry as Record<string, unknown>;
  // What no local copy would fix comes first: preference and multimodal data.
  const cols = (typeof e.columns === "object" && e.columns !== null ? e.columns : {}) as Record<string, unknown>;
  const media = UNSUPPORTED_COLUMNS.find((c) => c in cols);
  if (media) throw bad(`has a "${media}" column: multimodal data is not supported. Use a text-only dataset.`);
  if (e.ranking === true) {
    throw bad(
      "has ranking: true, a preference dataset (chosen/rejected answers) for stage rm or dpo, which whet does not support (it trains pt and sft). Use an SFT dataset, or LLaMA-Factory for reward modelling and DPO.",
    );
  }
  if (typeof e.file_name !== "string") {
    const hub = HUB_KEYS.filter((k) => typeof e[k] === "string");
    if (hub.length > 0) {
      const [key] = hub;
      const id = String(e[key!]);
      const fetch =
        key === "hf_hub_url"
          ? `huggingface-cli download --repo-type dataset ${id} --local-dir ${join(displayPath(dir), name)}`
          : key === "ms_hub_url"
            ? `modelscope download --dataset ${id} --local_dir ${join(displayPath(dir), name)}`
            : `download ${id} into ${join(displayPath(dir), name)}`;
      throw bad(
        `has no file_name, only ${hub.map((k) => `${k} "${String(e[k])}"`).join(", ")}: a hub dataset, and whet reads local files only (it never downloads). ` +
          `Download it (for example: ${fetch}) and add "file_name" with the path of its .json or .jsonl file to this entry.`,
      );
    }
    throw bad("has no file_name. Set file_name to a .json or .jsonl file in the dataset folder.");
  }
  const file = resolve(dir, e.file_name);
  if (!existsSync(file)) {
    throw new WhetError("FILE_NOT_FOUND", [
      { where, message: `file_name "${e.file_name}" does not exist in ${displayPath(dir)}. Put the file there or fix file_name.` },
    ]);
  }
  if (statSync(file).isDirectory()) throw bad(`file_name "${e.file_name}" is a folder, which is not supported. Point it at one .json or .jsonl file.`);
  const formatting = e.formatting ?? "alpaca";
  if (formatting !== "alpaca" && formatting !== "sharegpt") throw bad(`has formatting "${String(formatting)}". Use alpaca or sharegpt.`);
  const columns: Columns = {};
  for (const k of COLUMN_KEYS) if (typeof cols[k] === "string") columns[k] = cols[k] as string;
  const tg = (typeof e.tags === "object" && e.tags !== null ? e.tags : {}) as Record<string, unknown>;
  const tags: Partial<Tags> = {};
  for (const k of TAG_KEYS) if (typeof tg[k] === "string") tags[k] = tg[k] as string;
  return { name, file, formatting, columns, tags, warnings: entryWarnings(e, cols, tg, where), registry: infoPath };
}

/** What in an entry is not honoured: named, with what happens instead. */
function entryWarnings(e: Record<string, unknown>, cols: Record<string, unknown>, tg: Record<string, unknown>, where: string): Problem[] {
  const out: Problem[] = [];
  const warn = (key: string, message: string) => out.push({ where: `${where} ${key}`, message });
  for (const k of Object.keys(e)) {
    if (ENTRY_KEYS.has(k)) continue;
    if (k === "split") {
      if (e.split !== "train") warn(k, `is ${JSON.stringify(e.split)}; a local file has one split, and every record of it is used. Remove the key.`);
    } else if (k === "num_samples") warn(k, "is not supported; every record is used (max_samples caps the count). Cut the file instead.");
    else if (k === "subset" || k === "folder") warn(k, "only applies to hub datasets; the local file is read as it is. Remove the key.");
    else warn(k, "is not a dataset_info.json key whet knows; it is ignored.");
  }
  for (const k of Object.keys(cols)) {
    if ((COLUMN_KEYS as readonly string[]).includes(k) || UNSUPPORTED_COLUMNS.includes(k)) continue;
    if (k === "kto_tag") warn(`columns.${k}`, "is ignored: whet trains every record as supervised data (KTO is not supported), including those labelled undesirable. Remove those records or the column mapping.");
    else if (k === "chosen" || k === "rejected") warn(`columns.${k}`, "is only read by preference (ranking) datasets; it is ignored.");
    else warn(`columns.${k}`, "is not a column whet knows; it is ignored.");
  }
  for (const k of Object.keys(tg)) {
    if (!(TAG_KEYS as readonly string[]).includes(k)) warn(`tags.${k}`, `is not a tag whet knows (${TAG_KEYS.join(", ")}); it is ignored.`);
  }
  return out;
}

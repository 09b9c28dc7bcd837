// Finds the model folder named by model_name_or_path: a local folder, or a hub id already in the
// Hugging Face cache, or (when online) downloaded once into that cache by the worker's Python.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { WhetError } from "../errors.ts";

export interface ModelFolder {
  path: string;
  config: Record<string, unknown>;
  hasWeights: boolean;
}

const WEIGHT_FILE = /\.(safetensors|bin)$|^model\.safetensors\.index\.json$/;

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

/** A snapshot folder of `org/name` in the hub cache, or undefined. */
export function cachedSnapshot(id: string, cache = hubCacheDir()): string | undefined {
  const repo = join(cache, `models--${id.replace(/\//g, "--")}`);
  const ref = join(repo, "refs", "main");
  if (existsSync(ref)) {
    const snap = join(repo, "snapshots", readFileSync(ref, "utf8").trim());
    if (existsSync(join(snap, "config.json"))) return snap;
  }
  const snaps = join(repo, "snapshots");
  if (!existsSync(snaps)) return undefined;
  return readdirSync(snaps)
    .map((s) => join(snaps, s))
    .find((s) => existsSync(join(s, "config.json")));
}

export function resolveModel(
  value: string,
  opts: { configDir: string; randomInit: boolean; python?: string; where: string },
): ModelFolder {
  const local = [isAbsolute(value) ? value : resolve(opts.configDir, value), resolve(value)].find((p) => existsSync(p));
  let path = local;
  if (!path) {
    if (/^(\.{1,2}|~)?\//.test(value)) {
      throw new WhetError("FILE_NOT_FOUND", [
        { where: opts.where, message: `${value} does not exist (looked in ${isAbsolute(value) ? value : resolve(opts.configDir, value)}). Point it at a folder with config.json and weights.` },
      ]);
    }
    if (!/^[\w.-]+\/[\w.-]+$/.test(value)) {
      throw new WhetError("FILE_NOT_FOUND", [
        { where: opts.where, message: `${value} is neither a folder nor a hub id (org/name). Point it at a folder with config.json and weights.` },
      ]);
    }
    path = cachedSnapshot(value) ?? download(value, opts);
  }
  if (!statSync(path).isDirectory()) {
    throw new WhetError("MODEL_INVALID", [{ where: opts.where, message: `${path} is a file, not a model folder. Name the folder that holds config.json.` }]);
  }
  const configPath = join(path, "config.json");
  if (!existsSync(configPath)) {
    throw new WhetError("MODEL_INVALID", [{ where: opts.where, message: `${path} has no config.json. Name a Hugging Face model folder.` }]);
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new WhetError("MODEL_INVALID", [{ where: configPath, message: `is not valid JSON (${(e as Error).message}). Restore the file.` }]);
  }
  const hasWeights = readdirSync(path).some((f) => WEIGHT_FILE.test(f));
  if (!hasWeights && !opts.randomInit) {
    throw new WhetError("MODEL_INVALID", [
      { where: opts.where, message: `${path} has no weights (*.safetensors). Add the weight files, or set random_init: true to train from random weights.` },
    ]);
  }
  if (!existsSync(join(path, "tokenizer.json"))) {
    throw new WhetError("TOKENIZER_INVALID", [
      { where: opts.where, message: `${path} has no tokenizer.json. Whetstone needs the fast tokenizer file; save it with tokenizer.save_pretrained().` },
    ]);
  }
  return { path, config, hasWeights };
}

function download(id: string, opts: { python?: string; where: string }): string {
  const offline = process.env.HF_HUB_OFFLINE === "1" || process.env.TRANSFORMERS_OFFLINE === "1";
  const fail = (why: string) =>
    new WhetError("FILE_NOT_FOUND", [
      { where: opts.where, message: `${id} is not in the Hugging Face cache (${hubCacheDir()}) and ${why}. Download it once when online, or point model_name_or_path at a local folder.` },
    ]);
  if (offline || !opts.python) throw fail("this machine is offline");
  process.stderr.write(`downloading ${id} into ${hubCacheDir()}...\n`);
  const r = spawnSync(
    opts.python,
    ["-c", "import sys; from huggingface_hub import snapshot_download; print(snapshot_download(sys.argv[1], allow_patterns=['*.json','*.safetensors','*.model','*.txt']))", id],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 3_600_000 },
  );
  const path = r.stdout.trim().split("\n").pop();
  if (r.status !== 0 || !path || !existsSync(path)) throw fail("the download failed (no network, or no such model)");
  return path;
}

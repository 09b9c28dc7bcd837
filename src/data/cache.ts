// The shard cache: a folder per key under <cacheRoot>/shards, built at most once. Writes go to
// `<key>.tmp-<pid>` and are renamed when complete; tmp folders of dead processes are removed.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { completeMeta, EVAL_DIR, FORMAT_VERSION, writeShardFiles, type ShardContent, type ShardMeta } from "./shards.ts";

/** JSON with object keys sorted, so equal values hash equally. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/** sha256 over every input that changes the bytes (plus the format version). */
export function cacheKey(parts: unknown): string {
  return createHash("sha256").update(canonicalJson({ format_version: FORMAT_VERSION, parts })).digest("hex");
}

export interface PrepareShardsInput {
  /** Shards go to <cacheRoot>/shards/<key>. */
  cacheRoot: string;
  key: string;
  /** Produces the documents and rows; called only when no complete folder exists. */
  build: () => Promise<ShardContent>;
  /** Test hook: runs after the arrays are written, before meta.json and the rename. */
  beforeMeta?: (tmpDir: string) => void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes `<key>.tmp-<pid>` folders whose process is gone (left by a crash). */
function removeStaleTmp(root: string, key: string): void {
  for (const name of readdirSync(root)) {
    const m = new RegExp(`^${key}\\.tmp-(\\d+)$`).exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) rmSync(join(root, name), { recursive: true, force: true });
  }
}

export interface PreparedShards {
  dir: string;
  meta: ShardMeta;
  cached: boolean;
  /** The held-out split in <dir>/eval, when the content had one. */
  eval?: { dir: string; meta: ShardMeta };
}

/** A complete folder and its complete eval subfolder, if it has one. */
function found(dir: string, meta: ShardMeta, cached: boolean): PreparedShards | undefined {
  if (!meta.held_out_samples) return { dir, meta, cached };
  const evalDir = join(dir, EVAL_DIR);
  const evalMeta = completeMeta(evalDir);
  return evalMeta ? { dir, meta, cached, eval: { dir: evalDir, meta: evalMeta } } : undefined;
}

/**
 * Reuses the complete folder for key, or builds and writes it atomically. A held-out split goes to
 * <key>/eval and is written before the main meta.json, so a complete folder has a complete split.
 */
export async function prepareShards(input: PrepareShardsInput): Promise<PreparedShards> {
  const root = join(input.cacheRoot, "shards");
  const dir = join(root, input.key);
  const existingMeta = completeMeta(dir);
  const existing = existingMeta && found(dir, existingMeta, true);
  if (existing) return existing;
  mkdirSync(root, { recursive: true });
  removeStaleTmp(root, input.key);
  const content = await input.build();
  const tmp = join(root, `${input.key}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    let evalMeta: ShardMeta | undefined;
    if (content.eval) {
      mkdirSync(join(tmp, EVAL_DIR));
      evalMeta = writeShardFiles(join(tmp, EVAL_DIR), input.key, content.eval);
    }
    const meta = writeShardFiles(tmp, input.key, content, input.beforeMeta);
    if (existsSync(dir)) {
      const theirs = completeMeta(dir);
      const done = theirs && found(dir, theirs, true);
      if (done) {
        // Another process finished first: use its folder.
        rmSync(tmp, { recursive: true, force: true });
        return done;
      }
      rmSync(dir, { recursive: true, force: true });
    }
    renameSync(tmp, dir);
    return { dir, meta, cached: false, ...(evalMeta ? { eval: { dir: join(dir, EVAL_DIR), meta: evalMeta } } : {}) };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}


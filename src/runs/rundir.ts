// The run directory (docs/contracts.md): created only after the config, the model folder and the
// data have all been checked, so a failed start never leaves a directory a later run would trust.
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Writes a file under a temporary name, then renames it, so readers never see half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function makeRunId(label: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  const safe = label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40);
  return safe ? `${stamp}-${safe}` : stamp;
}

/** A run directory that does not exist yet: appends -2, -3... when two runs start in one second. */
export function freshRunDir(root: string, id: string): { id: string; dir: string } {
  let candidate = id;
  for (let n = 2; existsSync(join(root, candidate)); n++) candidate = `${id}-${n}`;
  return { id: candidate, dir: join(root, candidate) };
}

export interface RunFiles {
  configText: string;
  spec: unknown;
  plan: unknown;
}

export function createRunDir(dir: string, files: RunFiles): void {
  mkdirSync(join(dir, "logs"), { recursive: true });
  mkdirSync(join(dir, "checkpoints"), { recursive: true });
  writeFileAtomic(join(dir, "config.yaml"), files.configText);
  writeFileAtomic(join(dir, "spec.json"), JSON.stringify(files.spec, null, 2) + "\n");
  writeFileAtomic(join(dir, "plan.json"), JSON.stringify(files.plan, null, 2) + "\n");
}

/** Checkpoints, newest last: step-N folders (temporary .tmp-* names are never taken). `complete`
 *  also asks for trainer_state.json, which the worker writes last before renaming .tmp-step-N to
 *  step-N, so a step-N folder that a kill left half deleted is not resumed from. */
export function listCheckpoints(runDir: string, opts: { complete?: boolean } = {}): { step: number; path: string }[] {
  const dir = join(runDir, "checkpoints");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => ({ name, m: /^step-(\d+)$/.exec(name) }))
    .filter((x) => x.m && statSync(join(dir, x.name)).isDirectory())
    .filter((x) => !opts.complete || existsSync(join(dir, x.name, "trainer_state.json")))
    .map((x) => ({ step: Number(x.m![1]), path: join(dir, x.name) }))
    .sort((a, b) => a.step - b.step);
}

/** One event from the supervisor itself (a retry, a stall, a dead rank), appended with one
 *  O_APPEND write like the workers' own, so the dashboard and `whet watch` show it too. */
export function appendEvent(eventsPath: string, event: Record<string, unknown>): void {
  appendFileSync(eventsPath, JSON.stringify({ time: Date.now() / 1000, source: "supervisor", ...event }) + "\n");
}

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

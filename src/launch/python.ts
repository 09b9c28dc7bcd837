// Finds the Python interpreter that runs the worker: --python, then $WHET_PYTHON, then the
// repository's .venv (made by the setup script), then python3 on PATH.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WhetError } from "../errors.ts";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WORKER_DIR = join(REPO_ROOT, "worker");

export function findPython(explicit?: string): string {
  const candidates = [explicit, process.env.WHET_PYTHON, join(REPO_ROOT, ".venv", "bin", "python")];
  for (const c of candidates) {
    if (!c) continue;
    if (c === explicit || c === process.env.WHET_PYTHON) {
      if (!existsSync(c)) {
        throw new WhetError("PYTHON_MISSING", [
          { where: c === explicit ? "--python" : "WHET_PYTHON", message: `${c} does not exist. Name a Python that has torch installed, or run 'npm run setup'.` },
        ]);
      }
      return c;
    }
    if (existsSync(c)) return c;
  }
  const which = spawnSync("sh", ["-c", "command -v python3"], { encoding: "utf8" });
  const onPath = which.stdout.trim();
  if (onPath) return onPath;
  throw new WhetError("PYTHON_MISSING", "no Python found for the worker. Run 'npm run setup', or set WHET_PYTHON to a Python that has torch.");
}

/** Environment for worker processes: the worker package on PYTHONPATH, unbuffered output. */
export function workerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const path = process.env.PYTHONPATH ? `${WORKER_DIR}:${process.env.PYTHONPATH}` : WORKER_DIR;
  return { ...process.env, PYTHONPATH: path, PYTHONUNBUFFERED: "1", ...extra };
}

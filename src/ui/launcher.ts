// Starts, stops and resumes `whet train` for the dashboard. The process runs detached in its own
// process group, so it outlives the server; runs/<id>/process.json records its pid, which is how
// a restarted server still knows the run is alive and can stop it.
import { spawn } from "node:child_process";
import { mkdirSync, openSync, closeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "./http.ts";
import { writeFileAtomic, listCheckpoints, freshRunDir, makeRunId } from "../runs/rundir.ts";
import { PROCESS_FILE, isRunDir, processAlive, readProcessRecord, readSummary, runDirOf, type ProcessRecord } from "../runs/store.ts";
import { REPO_ROOT } from "../launch/python.ts";

export const UI_CONFIG_FILE = "ui-config.yaml";
export const CLI_LOG = join("logs", "cli.log");

export interface LauncherOptions {
  runsDir: string;
  /** The command that runs whet (default: this node with bin/whet.js); tests put a stand-in here. */
  whet?: string[];
  env?: NodeJS.ProcessEnv;
}

export class Launcher {
  private readonly whet: string[];

  constructor(private readonly opts: LauncherOptions) {
    this.whet = opts.whet ?? [process.execPath, join(REPO_ROOT, "bin", "whet.js")];
  }

  /** A fresh run directory for a new run; its id is what output_dir will name. */
  reserve(label: string): { id: string; dir: string } {
    mkdirSync(this.opts.runsDir, { recursive: true });
    const r = freshRunDir(this.opts.runsDir, makeRunId(label));
    mkdirSync(join(r.dir, "logs"), { recursive: true });
    return r;
  }

  /** Writes the config into the reserved directory and starts `whet train CONFIG --json`. */
  start(dir: string, configText: string): ProcessRecord {
    const configPath = join(dir, UI_CONFIG_FILE);
    writeFileSync(configPath, configText);
    return this.spawn(dir, ["train", configPath, "--json", "--runs-dir", this.opts.runsDir]);
  }

  stop(id: string): ProcessRecord {
    const dir = this.existing(id);
    const rec = readProcessRecord(dir);
    if (!rec) throw new ApiError(409, "NOT_STOPPABLE", "this run was not started from the dashboard, so it has no process to signal here. Stop it where it runs (Ctrl-C).");
    if (!processAlive(rec.pid)) throw new ApiError(409, "NOT_RUNNING", `run ${id} is not running.`);
    // The supervisor turns SIGTERM into "checkpoint, then exit"; a second one kills every rank.
    process.kill(rec.pid, "SIGTERM");
    const next = { ...rec, stop_requested: rec.stop_requested ?? Date.now() / 1000 };
    writeFileAtomic(join(dir, PROCESS_FILE), JSON.stringify(next, null, 2) + "\n");
    return next;
  }

  resume(id: string): ProcessRecord {
    const dir = this.existing(id);
    const summary = readSummary(this.opts.runsDir, id);
    if (summary?.status === "running") throw new ApiError(409, "ALREADY_RUNNING", `run ${id} is still running; stop it first.`);
    if (summary?.status === "done") throw new ApiError(409, "ALREADY_DONE", `run ${id} finished; there is nothing to resume.`);
    if (listCheckpoints(dir).length === 0) throw new ApiError(409, "NO_CHECKPOINT", `run ${id} has no complete checkpoint to resume from. Start it again from its config.`);
    return this.spawn(dir, ["train", "--resume", dir, "--json"]);
  }

  private existing(id: string): string {
    const dir = runDirOf(this.opts.runsDir, id);
    if (!dir) throw new ApiError(400, "BAD_RUN_ID", "a run id is one folder name: letters, digits, '.', '_' and '-'.");
    if (!isRunDir(dir)) throw new ApiError(404, "RUN_NOT_FOUND", `no run ${id} in the runs folder.`);
    return dir;
  }

  private spawn(dir: string, args: string[]): ProcessRecord {
    const log = openSync(join(dir, CLI_LOG), "a");
    const argv = [...this.whet, ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: process.cwd(),
      env: this.opts.env ?? process.env,
      detached: true,
      stdio: ["ignore", "ignore", log],
    });
    closeSync(log);
    if (child.pid === undefined) throw new ApiError(500, "SPAWN_FAILED", `could not start ${argv[0]}.`);
    const rec: ProcessRecord = { pid: child.pid, argv, started: Date.now() / 1000, stop_requested: null, exit_code: null, exit_signal: null };
    const recordPath = join(dir, PROCESS_FILE);
    writeFileAtomic(recordPath, JSON.stringify(rec, null, 2) + "\n");
    child.on("error", () => undefined);
    child.on("exit", (code, signal) => {
      const now = readProcessRecord(dir);
      if (now?.pid !== rec.pid) return; // a resume has replaced the record
      writeFileAtomic(recordPath, JSON.stringify({ ...now, exit_code: code, exit_signal: signal }, null, 2) + "\n");
    });
    child.unref();
    return rec;
  }
}

// Metrics to Weights & Biases and MLflow, as LLaMA-Factory's `report_to` names them. Each backend
// is a sidecar process (python -m whet_worker.sink, worker/whet_worker/sink.py) that follows the
// run's events.jsonl on its own: the training job never waits on a tracking server, and a client
// that is missing or failing is a warning, never a failed run. TensorBoard needs no sidecar: the
// train command writes it itself (src/tensorboard/).
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { workerEnv } from "../launch/python.ts";

export const SIDECARS = ["wandb", "mlflow"] as const;
const KNOWN = new Set<string>(["tensorboard", ...SIDECARS]);

/** report_to as LLaMA-Factory takes it: a name, a comma list, a list, "none" or "all". */
export function parseReportTo(value: unknown): string[] {
  const list = Array.isArray(value) ? value.map(String) : typeof value === "string" ? value.split(",") : [];
  const names = list.map((s) => s.trim().toLowerCase()).filter((s) => s && s !== "none");
  return names.includes("all") ? ["tensorboard", ...SIDECARS] : [...new Set(names)];
}

export interface ReportSinks {
  /** The sidecars started (wandb, mlflow). */
  readonly started: string[];
  /** SIGTERM: each sidecar logs what is already written, finishes its run and exits; SIGKILL after timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ReportOptions {
  runDir: string;
  eventsPath: string;
  reportTo: unknown;
  python: string;
  /** The sidecars' warnings (a client not installed, a tracking server refusing): shown to the user. */
  onWarning(message: string): void;
  env?: NodeJS.ProcessEnv;
}

const WARNING = /^whet sink: warning: (.*)$/;

export function startReportSinks(o: ReportOptions): ReportSinks {
  const children: [string, ChildProcess][] = [];
  for (const name of parseReportTo(o.reportTo)) {
    if (!KNOWN.has(name)) {
      o.onWarning(`report_to: ${name} is not supported; use tensorboard, wandb, mlflow, all or none.`);
      continue;
    }
    if (name === "tensorboard") continue;
    children.push([name, sidecar(name, o)]);
  }
  return {
    started: children.map(([n]) => n),
    stop: (timeoutMs = 60_000) => Promise.all(children.map(([, c]) => stopChild(c, timeoutMs))).then(() => undefined),
  };
}

function sidecar(name: string, o: ReportOptions): ChildProcess {
  const logs = join(o.runDir, "logs");
  mkdirSync(logs, { recursive: true });
  const log = join(logs, `sink-${name}.log`);
  const argv = ["-m", "whet_worker.sink", "--events", o.eventsPath, "--to", name, "--run-name", basename(o.runDir), "--config", join(o.runDir, "spec.json"), "--managed"];
  // Its own process group: Ctrl-C in the terminal stops the run, whose end then stops the sidecar
  // after it has logged the last events (a sidecar also stops by itself when its parent dies).
  const child = spawn(o.python, argv, { env: o.env ?? workerEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
  const write = (text: string) => {
    try {
      appendFileSync(log, text);
    } catch {
      // the run folder is gone; nothing to keep
    }
  };
  child.stdout!.on("data", (d: Buffer) => write(d.toString()));
  let partial = "";
  child.stderr!.on("data", (d: Buffer) => {
    write(d.toString());
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const m = WARNING.exec(line);
      if (m) o.onWarning(m[1]!);
    }
  });
  child.on("error", (e) => o.onWarning(`report_to: ${name}: could not start ${o.python} (${e.message}); the run trains without it.`));
  child.on("exit", (code, signal) => {
    if (code !== 0 && !child.killed) o.onWarning(`report_to: the ${name} sidecar ${code === null ? `was killed by ${signal}` : `exited with code ${code}`}; see ${log}.`);
  });
  return child;
}

function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(kill);
      done();
    });
    child.kill("SIGTERM");
  });
}

// `whet train [CONFIG] [key=value ...]`: check, prepare, launch, watch, report.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { WhetError, renderProblem } from "../../errors.ts";
import { parse, intOption } from "../args.ts";
import { prepareRun, QUICKSTART_CONFIG, type PreparedRun } from "../../runs/prepare.ts";
import { createRunDir, listCheckpoints, readJson } from "../../runs/rundir.ts";
import { torchrunArgv, launchEnv, shellLine, type LaunchPlan } from "../../launch/torchrun.ts";
import { supervise, type SuperviseResult } from "../../launch/supervisor.ts";
import { findPython, workerEnv } from "../../launch/python.ts";
import { TerminalProgress } from "../../progress/terminal.ts";
import { tensorboardSink } from "../../tensorboard/sink.ts";
import { quickDoctor, saveReport } from "../../doctor/index.ts";
import { loss } from "../../progress/format.ts";
import { configKeyHelp } from "../../config/help.ts";
import type { RunSpec } from "../../spec/runspec.ts";
import type { Command } from "./index.ts";

const OPTIONS = {
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
  resume: { type: "boolean" },
  device: { type: "string" },
  nproc: { type: "string" },
  nnodes: { type: "string" },
  "node-rank": { type: "string" },
  "master-addr": { type: "string" },
  "master-port": { type: "string" },
  python: { type: "string" },
  "runs-dir": { type: "string" },
} as const;

const HELP = `Usage: whet train [CONFIG] [key=value ...] [options]

Fine-tunes a model as CONFIG (YAML) says. Without CONFIG, runs the embedded quickstart
(${QUICKSTART_CONFIG}): a tiny model learning a small conversation set, offline, on CPU or GPU.
key=value pairs override the file's keys (for example max_steps=20 learning_rate=1e-4).

Options:
  --dry-run            print the resolved RunSpec and the launch command; start nothing
  --json               stdout carries only the worker's NDJSON events (human text goes to stderr)
  --resume RUN_DIR     continue RUN_DIR from its newest complete checkpoint (same spec, same data)
  --device cpu|cuda    override the config's device (auto: every visible GPU, else the CPU)
  --nproc N            processes per node (default: one per visible GPU, else 1)
  --nnodes N           nodes taking part (default 1); with --node-rank K and --master-addr HOST
  --master-port P      rendezvous port on the master node (default 29500)
  --python PATH        the Python that runs the worker (default: $WHET_PYTHON, then ./.venv)
  --runs-dir DIR       where new run directories go (default ./runs)

Config keys (LLaMA-Factory names where the concept exists):
`;

export const trainCommand: Command = {
  name: "train",
  summary: "fine-tune a model from a YAML config (no config: the embedded quickstart)",
  help: () => HELP + configKeyHelp(),
  async run(argv) {
    const { values, positionals } = parse("train", argv, OPTIONS);
    const overrides = positionals.filter((p) => p.includes("=") && !existsSync(p));
    const paths = positionals.filter((p) => !overrides.includes(p));
    if (paths.length > 1) throw new WhetError("USAGE", `expected one CONFIG, got ${paths.join(", ")}. Pass overrides as key=value.`);
    const device = values.device as string | undefined;
    if (device !== undefined && device !== "cpu" && device !== "cuda") {
      throw new WhetError("USAGE", [{ where: "--device", message: `must be cpu or cuda, got "${device}".` }]);
    }
    const nnodes = intOption(values.nnodes, "nnodes") ?? 1;
    const nodeRank = intOption(values["node-rank"], "node-rank") ?? 0;
    const masterPort = intOption(values["master-port"], "master-port") ?? 29500;
    if (nnodes > 1 && !values["master-addr"]) {
      throw new WhetError("USAGE", [{ where: "--master-addr", message: "is required with --nnodes > 1. Give the address of the node with --node-rank 0." }]);
    }

    const human = (text: string) => process.stderr.write(text + "\n");
    const prepared = values.resume
      ? resumeRun(paths[0], values.python)
      : await prepareRun({
          configPath: paths[0],
          overrides,
          device,
          nproc: intOption(values.nproc, "nproc"),
          nnodes,
          python: values.python,
          runsRoot: values["runs-dir"],
          onProgress: progressBar(),
        });
    for (const w of prepared.warnings) human(`warning: ${renderProblem(w)}`);
    const plan: LaunchPlan = {
      python: prepared.python,
      specPath: join(prepared.spec.run_dir, "spec.json"),
      nprocPerNode: prepared.spec.distributed.nproc_per_node,
      nnodes,
      nodeRank,
      masterAddr: values["master-addr"],
      masterPort,
      device: prepared.spec.distributed.device,
    };
    const argvLaunch = torchrunArgv(plan);
    const env = launchEnv(plan);

    if (values["dry-run"]) {
      const out = { spec: prepared.spec, launch: { argv: argvLaunch, env, command: shellLine(argvLaunch, env) }, notes: prepared.notes };
      if (values.json) process.stdout.write(JSON.stringify(out) + "\n");
      else {
        process.stdout.write(JSON.stringify(prepared.spec, null, 2) + "\n\n");
        for (const n of prepared.notes) process.stdout.write(`${n}\n`);
        process.stdout.write(`\nlaunch: ${shellLine(argvLaunch, env)}\n`);
      }
      return 0;
    }
    return launch(prepared, argvLaunch, env, Boolean(values.json), human);
  },
};

async function launch(p: PreparedRun, argv: string[], env: Record<string, string>, json: boolean, human: (s: string) => void): Promise<number> {
  const spec = p.spec;
  createRunDir(spec.run_dir, { configText: p.configText, spec, plan: planSummary(spec) });
  if (spec.distributed.device === "cuda" && spec.distributed.nproc_per_node > 1) {
    // The doctor's quick subset (P2P checksums, one small all-reduce) before any rank starts:
    // a broken link is refused here, with its fix, not hours later by a watchdog.
    human("  checking the GPUs (whet doctor --quick)...");
    const { ok, report } = await quickDoctor({ gpus: spec.distributed.nproc_per_node, python: p.python });
    saveReport(report, spec.run_dir);
    Object.assign(env, report.summary.env);
    if (!ok) {
      const failed = report.checks.filter((c) => c.verdict === "failure");
      throw new WhetError("WORKER_FAILED", failed.map((c) => ({ where: `doctor ${c.id}`, message: `${c.value}. ${c.fix}`.trim() })));
    }
  }
  human(`run: ${spec.run_dir}`);
  for (const n of p.notes) human(`  ${n}`);
  const view = new TerminalProgress();
  const metrics = tensorboardSink(spec.run_dir);
  const result = await supervise({
    argv,
    env: workerEnv({ ...env, WHET_RANK_LOG_DIR: join(spec.run_dir, "logs") }),
    eventsPath: spec.events_path,
    launcherLog: join(spec.run_dir, "logs", "launcher.log"),
    onEvent: (e, line) => {
      if (json) process.stdout.write(line + "\n");
      view.onEvent(e);
      metrics.onEvent(e);
    },
    onGarbage: (reason) => human(`warning: unreadable event line skipped (${reason})`),
  });
  view.finish();
  metrics.close();
  return report(result, spec, human);
}

function report(r: SuperviseResult, spec: RunSpec, human: (s: string) => void): number {
  if (r.done && r.exitCode === 0) {
    human(`done: ${r.done.steps} steps, loss ${loss(r.done.first_loss)} -> ${loss(r.done.last_loss)}`);
    human(`export: ${r.done.export_dir}`);
    return 0;
  }
  const logs = join(spec.run_dir, "logs");
  if (r.interrupted) {
    const last = listCheckpoints(spec.run_dir).pop();
    human(`stopped at step ${r.lastStep}.` + (last ? ` Continue with: whet train --resume ${spec.run_dir}` : " No checkpoint was written."));
    return 130;
  }
  const first = r.errors[0];
  if (first) {
    human(`failed: rank ${first.rank} reported ${first.code} at step ${first.step ?? r.lastStep}${first.phase ? ` (${first.phase})` : ""}: ${first.message}`);
    human(`logs: ${join(logs, `rank-${first.rank}.log`)} and ${join(logs, "launcher.log")}`);
    return 1;
  }
  const f = r.failure;
  const how = f?.signal ? `was killed by ${f.signal}` : f?.exitCode !== null && f?.exitCode !== undefined ? `exited with code ${f.exitCode}` : `exited with code ${r.exitCode}`;
  const rank = f?.rank ?? null;
  human(`failed: ${rank === null ? "the launcher" : `rank ${rank}`} ${how} after step ${r.lastStep}; every other rank was stopped.`);
  human(`logs: ${rank === null ? join(logs, "launcher.log") : `${join(logs, `rank-${rank}.log`)} and ${join(logs, "launcher.log")}`}`);
  return 1;
}

function planSummary(spec: RunSpec) {
  return {
    world_size: spec.distributed.world_size,
    micro_batch_size: spec.train.micro_batch_size,
    gradient_accumulation_steps: spec.train.gradient_accumulation_steps,
    global_batch_rows: spec.train.global_batch_rows,
    max_steps: spec.train.max_steps,
    precision: spec.precision,
  };
}

/** --resume RUN_DIR: the run's own spec, continued from its newest complete checkpoint. */
function resumeRun(arg: string | undefined, python: string | undefined): PreparedRun {
  if (!arg || !existsSync(arg) || !statSync(arg).isDirectory()) {
    throw new WhetError("USAGE", [{ where: "--resume", message: "needs the run directory to continue, for example: whet train --resume runs/<id>." }]);
  }
  const runDir = resolve(arg);
  const specPath = join(runDir, "spec.json");
  if (!existsSync(specPath)) throw new WhetError("RUN_NOT_FOUND", [{ where: runDir, message: "holds no spec.json, so it is not a whet run directory." }]);
  const last = listCheckpoints(runDir).pop();
  if (!last) throw new WhetError("RUN_NOT_FOUND", [{ where: runDir, message: "has no complete checkpoint to resume from. Start the run again instead." }]);
  const spec = readJson<RunSpec>(specPath);
  if (!existsSync(spec.data.shard_dir)) {
    throw new WhetError("RUN_NOT_FOUND", [{ where: spec.data.shard_dir, message: "the run's token shards are gone from the cache. Start the run again from its config." }]);
  }
  return {
    configText: readFileSync(join(runDir, "config.yaml"), "utf8"),
    spec: { ...spec, checkpoint: { ...spec.checkpoint, resume_from: last.path } },
    notes: [`resuming from ${last.path}`],
    warnings: [],
    python: findPython(python),
  };
}

function progressBar() {
  let lastPct = -1;
  return (stage: string, done: number, total: number) => {
    if (!process.stderr.isTTY || total === 0) return;
    const pct = Math.floor((100 * done) / total);
    if (pct === lastPct) return;
    lastPct = pct;
    const width = 30;
    const fill = Math.round((width * done) / total);
    process.stderr.write(`\r${stage} [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${pct}%${done >= total ? "\n" : ""}`);
  };
}

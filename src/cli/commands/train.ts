// `whet train [CONFIG] [key=value ...]`: check, prepare, launch, watch, report.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { WhetError, renderProblem } from "../../errors.ts";
import { parse, intOption } from "../args.ts";
import { parse as parseYaml } from "yaml";
import { prepareRun, QUICKSTART_CONFIG, type PreparedRun, type PrepareOptions } from "../../runs/prepare.ts";
import { createRunDir, listCheckpoints, readJson } from "../../runs/rundir.ts";
import { torchrunArgv, launchEnv, shellLine, type LaunchPlan } from "../../launch/torchrun.ts";
import { findPython } from "../../launch/python.ts";
import { DEFAULT_STALL } from "../../launch/heartbeat.ts";
import { runWithRecovery, planSummary, type AttemptIo, type RecoveryPolicy } from "../../recover/loop.ts";
import { TerminalProgress } from "../../progress/terminal.ts";
import { tensorboardSink } from "../../tensorboard/sink.ts";
import { startGpuSampler } from "../../gpu-sampler/sampler.ts";
import { startReportSinks } from "../../sinks/index.ts";
import { launchRefusal, quickDoctor, saveReport } from "../../doctor/index.ts";
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
  "max-retries": { type: "string" },
  "stall-timeout": { type: "string" },
  force: { type: "boolean" },
} as const;

const HELP = `Usage: whet train [CONFIG] [key=value ...] [options]

Fine-tunes a model as CONFIG (YAML) says. Without CONFIG, runs the embedded quickstart
(${QUICKSTART_CONFIG}): a tiny model learning a small conversation set, offline, on CPU or GPU.
key=value pairs override the file's keys (for example max_steps=20 learning_rate=1e-4).

Options:
  --dry-run            print the resolved RunSpec and the launch command; start nothing
  --json               stdout carries only the worker's NDJSON events (human text goes to stderr)
  --resume RUN_DIR     continue RUN_DIR from its newest complete checkpoint (same spec, data and
                       process count; for another count use auto_resume with --nproc)
  --device cpu|cuda    override the config's device (auto: every visible GPU, else the CPU)
  --nproc N            processes per node (default: one per visible GPU, else 1)
  --nnodes N           nodes taking part (default 1); with --node-rank K and --master-addr HOST
  --master-port P      rendezvous port on the master node (default 29500)
  --python PATH        the Python that runs the worker (default: $WHET_PYTHON, then ./.venv)
  --runs-dir DIR       where new run directories go (default ./runs)
  --max-retries N      OOM retries, and auto_resume restarts, at most N each (default 3)
  --stall-timeout S    a rank with no progress for max(10 × median step time, S) seconds is a
                       stall: stacks dumped, job stopped (default 120)
  --force              launch on GPUs even when the memory planner predicts the run will not fit

Before launch on GPUs the planner predicts each GPU's memory: sharding: auto becomes the fastest
setting predicted to fit, and a run predicted not to fit is refused with the numbers and the
nearest setting that fits (--force launches it anyway).

Recovery: out of memory retries from the last checkpoint with a smaller micro-batch (same global
batch), then more checkpointing, sharding, offload. With auto_resume: true a rank that died or
stalled restarts the job from the last checkpoint. Ctrl-C writes a checkpoint at the next step
boundary and stops; a second Ctrl-C stops at once.

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
    const prepareOptions: PrepareOptions = {
      configPath: paths[0],
      overrides,
      device,
      nproc: intOption(values.nproc, "nproc"),
      nnodes,
      python: values.python,
      runsRoot: values["runs-dir"],
      onProgress: progressBar(),
      force: values.force === true,
      nodeRank,
    };
    const prepared = values.resume ? resumeRun(paths[0], values.python, { nproc: prepareOptions.nproc, nnodes }) : await prepareRun(prepareOptions);
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
    const cfg = prepared.config ?? {};
    const num = (v: unknown) => (typeof v === "number" && v >= 0 ? v : undefined);
    const maxRetries = intOption(values["max-retries"], "max-retries") ?? num(cfg.max_retries) ?? 3;
    const policy: RecoveryPolicy = {
      autoResume: prepared.autoResume ?? false,
      maxRestarts: maxRetries,
      maxOomRetries: maxRetries,
      stall: {
        factor: num(cfg.stall_factor) ?? DEFAULT_STALL.factor,
        floorS: floatOption(values["stall-timeout"], "stall-timeout") ?? num(cfg.stall_timeout_s) ?? DEFAULT_STALL.floorS,
        slowPhaseS: Number(env.WHET_COLLECTIVE_TIMEOUT_S) + 300,
      },
    };

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
    const io: AttemptIo = {
      command: (spec) => ({ argv: torchrunArgv({ ...plan, specPath: join(spec.run_dir, "spec.json") }), env: { ...env } }),
      reprepare: values.resume
        ? undefined
        : (extra, resumeFrom) =>
            prepareRun({ ...prepareOptions, overrides: [...overrides, ...extra], onProgress: undefined, retry: { runDir: prepared.spec.run_dir, resumeFrom }, fault: null }),
      view: () => {
        const view = new TerminalProgress();
        const metrics = tensorboardSink(prepared.spec.run_dir);
        return {
          onEvent: (e, line) => {
            if (values.json) process.stdout.write(line + "\n");
            view.onEvent(e);
            metrics.onEvent(e);
          },
          close: () => {
            view.finish();
            metrics.close();
          },
        };
      },
      human,
    };
    return launch(prepared, env, policy, io, human);
  },
};

async function launch(p: PreparedRun, env: Record<string, string>, policy: RecoveryPolicy, io: AttemptIo, human: (s: string) => void): Promise<number> {
  const spec = p.spec;
  createRunDir(spec.run_dir, { configText: p.configText, spec, plan: planSummary(spec) });
  if (spec.distributed.device === "cuda" && spec.distributed.nproc_per_node > 1) {
    // The doctor's quick subset (P2P checksums, one small all-reduce) before any rank starts:
    // a broken link is refused here, with its fix, not hours later by a watchdog.
    human("  checking the GPUs (whet doctor --quick)...");
    const { ok, report } = await quickDoctor({ gpus: spec.distributed.nproc_per_node, python: p.python });
    saveReport(report, spec.run_dir);
    Object.assign(env, report.summary.env);
    const refusal = ok ? null : launchRefusal(report);
    if (refusal) throw refusal;
  }
  human(`run: ${spec.run_dir}`);
  for (const n of p.notes) human(`  ${n}`);
  // GPU samples (gpu.jsonl) and the W&B / MLflow sidecars follow the run beside the supervisor;
  // both must stop with it, or a leftover child would keep `whet train` alive.
  const gpus = startGpuSampler({ runDir: spec.run_dir, device: spec.distributed.device });
  const reportTo = p.config ? p.config.report_to : savedKey(p.configText, "report_to");
  const sinks = startReportSinks({ runDir: spec.run_dir, eventsPath: spec.events_path, reportTo, python: p.python, onWarning: (m) => human(`warning: ${m}`) });
  try {
    return await runWithRecovery(p, policy, io);
  } finally {
    await Promise.all([gpus.stop(), sinks.stop()]);
  }
}

/** --resume RUN_DIR: the run's own spec, continued from its newest complete checkpoint. */
function resumeRun(arg: string | undefined, python: string | undefined, asked: { nproc?: number; nnodes: number }): PreparedRun {
  if (!arg || !existsSync(arg) || !statSync(arg).isDirectory()) {
    throw new WhetError("USAGE", [{ where: "--resume", message: "needs the run directory to continue, for example: whet train --resume runs/<id>." }]);
  }
  const runDir = resolve(arg);
  const specPath = join(runDir, "spec.json");
  if (!existsSync(specPath)) throw new WhetError("RUN_NOT_FOUND", [{ where: runDir, message: "holds no spec.json, so it is not a whet run directory." }]);
  const last = listCheckpoints(runDir, { complete: true }).pop();
  if (!last) throw new WhetError("RUN_NOT_FOUND", [{ where: runDir, message: "has no complete checkpoint to resume from. Start the run again instead." }]);
  const spec = readJson<RunSpec>(specPath);
  const d = spec.distributed;
  if ((asked.nproc !== undefined && asked.nproc !== d.nproc_per_node) || asked.nnodes !== d.nnodes) {
    // --resume repeats the run's own launch; another process count changes the batch arithmetic,
    // which is the config's to decide (global_batch_size keeps it).
    throw new WhetError("USAGE", [{
      where: "--resume",
      message: `${runDir} ran on ${d.nnodes} node(s) × ${d.nproc_per_node} process(es); --resume continues it as it ran. To continue on ${asked.nnodes} × ${asked.nproc ?? d.nproc_per_node}, start its config again with the same output_dir, auto_resume: true and --nproc ${asked.nproc ?? d.nproc_per_node} (set global_batch_size to keep the batch; checkpoints load on any process count).`,
    }]);
  }
  if (!existsSync(spec.data.shard_dir)) {
    throw new WhetError("RUN_NOT_FOUND", [{ where: spec.data.shard_dir, message: "the run's token shards are gone from the cache. Start the run again from its config." }]);
  }
  const configText = readFileSync(join(runDir, "config.yaml"), "utf8");
  return {
    configText,
    // A fault injected into the first run is not injected again.
    spec: { ...spec, fault: null, checkpoint: { ...spec.checkpoint, resume_from: last.path } },
    notes: [`resuming from ${last.path}`],
    warnings: [],
    python: findPython(python),
    autoResume: savedKey(configText, "auto_resume") === true,
  };
}

/** A key of a run's saved config.yaml that is not in spec.json (auto_resume, report_to). */
function savedKey(configText: string, key: string): unknown {
  try {
    const doc = parseYaml(configText) as Record<string, unknown> | null;
    return doc?.[key];
  } catch {
    return undefined;
  }
}

function floatOption(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new WhetError("USAGE", [{ where: `--${name}`, message: `must be a positive number of seconds, got "${String(v)}".` }]);
  return n;
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

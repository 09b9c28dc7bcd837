// One run, attempt after attempt: launch, supervise, read the outcome, and either finish, explain,
// or start again from the last complete checkpoint with what the failure calls for:
//   - out of memory: the next memory setting (./oom.ts), applied as config overrides and resolved
//     through the normal prepare path, at most maxOomRetries times;
//   - a dead or stalled rank, a crash: the same spec again when auto_resume is on, at most
//     maxRestarts times and only while attempts make progress;
//   - NaN or zero loss, bad input, Ctrl-C: never again; say why and how to continue.
// Test-only fault injection (spec.fault) is dropped from every restart, so a fault fires once.
import { join } from "node:path";
import { appendEvent, createRunDir, listCheckpoints } from "../runs/rundir.ts";
import type { PreparedRun } from "../runs/prepare.ts";
import { startSupervised, type SuperviseResult, type Supervised } from "../launch/supervisor.ts";
import type { StallPolicy } from "../launch/heartbeat.ts";
import { workerEnv } from "../launch/python.ts";
import type { WhetEvent } from "../events/schema.ts";
import type { RunSpec } from "../spec/runspec.ts";
import { loss } from "../progress/format.ts";
import { classify, deadLines, diagnoseLoss, errorLines, resumable, stallLines, type Outcome } from "./outcome.ts";
import { nextOomSetting, plannerPredict, settingOfSpec, type MemorySetting } from "./oom.ts";
import { matchKnownCauses, renderCauses } from "./nccl.ts";
import { readTail } from "./texts.ts";

export interface RecoveryPolicy {
  autoResume: boolean;
  maxRestarts: number;
  maxOomRetries: number;
  stall: StallPolicy;
  killGraceMs?: number;
}

export interface AttemptIo {
  /** Builds the launch command and environment of a spec. */
  command: (spec: RunSpec) => { argv: string[]; env: Record<string, string> };
  /** Re-resolves the run with extra overrides from a checkpoint (the normal prepare path);
   *  undefined when the run has no config to resolve again (whet train --resume). */
  reprepare?: (overrides: string[], resumeFrom: string | null) => Promise<PreparedRun>;
  /** Per attempt: a fresh progress view and metrics sink. */
  view: () => { onEvent: (e: WhetEvent, line: string) => void; close: () => void };
  human: (s: string) => void;
}

interface Tried {
  setting: MemorySetting;
  outcome: string;
}

export async function runWithRecovery(first: PreparedRun, policy: RecoveryPolicy, io: AttemptIo): Promise<number> {
  let prepared = first;
  let spec = first.spec;
  const runDir = spec.run_dir;
  const logs = join(runDir, "logs");
  const oomOverrides: string[] = [];
  const tried: Tried[] = [];
  let restarts = 0;
  let firstLoss: number | null = null; // of the run, not of its last attempt
  let current: Supervised | null = null;
  let cancelled = false;
  const onSignal = () => {
    if (current) current.interrupt();
    else cancelled = true;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    for (let attempt = 1; ; attempt++) {
      if (cancelled) {
        io.human("stopped before the next attempt started.");
        return 130;
      }
      // The first attempt's files were written at launch; a retry runs a new spec.
      if (attempt > 1) createRunDir(runDir, { configText: prepared.configText, spec, plan: planSummary(spec) });
      const { argv, env } = io.command(spec);
      const view = io.view();
      current = startSupervised({
        argv,
        env: workerEnv({ ...env, WHET_RANK_LOG_DIR: logs, WHET_HEARTBEAT_DIR: join(logs, "heartbeat") }),
        eventsPath: spec.events_path,
        launcherLog: join(logs, "launcher.log"),
        heartbeatDir: join(logs, "heartbeat"),
        logsDir: logs,
        stall: policy.stall,
        killGraceMs: policy.killGraceMs,
        handleSignals: false,
        onEvent: (e, line) => {
          if (e.type === "step" && firstLoss === null) firstLoss = e.loss;
          view.onEvent(e, line);
        },
        onGarbage: (reason) => io.human(`warning: unreadable event line skipped (${reason})`),
        onNotice: (text) => io.human(`supervisor: ${text}`),
      });
      const r = await current.result;
      current = null;
      view.close();
      const outcome = classify(r);
      const last = listCheckpoints(runDir, { complete: true }).pop() ?? null;

      if (outcome.kind === "done") {
        io.human(`done: ${r.done!.steps} steps, loss ${loss(firstLoss ?? r.done!.first_loss)} -> ${loss(r.done!.last_loss)}${attempt > 1 ? ` (after ${attempt} attempts)` : ""}`);
        io.human(`export: ${r.done!.export_dir}`);
        return 0;
      }
      if (outcome.kind === "stopped") {
        io.human(`stopped at step ${r.lastStep}.` + (last ? ` Checkpoint ${last.path}; continue with: whet train --resume ${runDir}` : " No checkpoint was written."));
        return 130;
      }
      if (cancelled || r.interrupted) {
        io.human(`stopped at step ${r.lastStep} by a second interrupt; ${last ? `the last checkpoint is ${last.path}` : "no checkpoint was written"}.`);
        return 130;
      }

      if (outcome.kind === "oom") {
        const e = outcome.error;
        const from = settingOfSpec(spec);
        tried.push({ setting: from, outcome: `out of memory at step ${e?.step ?? r.lastStep}${e?.phase ? ` in ${e.phase}` : ""}` });
        io.human(`out of memory: rank ${e?.rank ?? r.failure?.rank ?? "?"} at step ${e?.step ?? r.lastStep}${e?.phase ? ` (${e.phase})` : ""}${memText(e)}.`);
        const choice = nextOomSetting(from, { world: spec.distributed.world_size, predict: predictor(prepared, spec), memTotalBytes: memTotal(e) });
        const reprepare = io.reprepare;
        const why = !reprepare
          ? "this run was resumed without its config, so whet cannot resolve a new setting; start it from its config to get OOM retries"
          : tried.length > policy.maxOomRetries
            ? `the limit of ${policy.maxOomRetries} OOM retries is reached`
            : !choice
              ? "no setting is left that saves memory"
              : null;
        if (why || !choice || !reprepare) {
          io.human(`failed: out of memory, and ${why}.`);
          io.human("tried:");
          for (const t of tried) io.human(`  - ${describeSetting(t.setting, spec.distributed.world_size)}: ${t.outcome}`);
          io.human("Lower cutoff_len, use LoRA instead of full fine-tuning, or use GPUs with more memory; 'whet plan CONFIG --fit' shows what fits.");
          io.human(`logs: ${logs}/rank-${e?.rank ?? 0}.log`);
          return 1;
        }
        oomOverrides.push(...choice.overrides);
        io.human(`retrying (${tried.length}/${policy.maxOomRetries}) ${last ? `from ${last.path}` : "from the start"} with ${choice.changes.join("; ")}${choice.why.length ? ` [${choice.why.join("; ")}]` : ""}`);
        appendEvent(spec.events_path, {
          type: "warning", rank: e?.rank ?? 0, code: "OOM_RETRY", attempt,
          message: `out of memory at step ${e?.step ?? r.lastStep}; retrying with ${choice.changes.join("; ")}`,
          changes: choice.changes, overrides: choice.overrides, resume_from: last?.path ?? null,
        });
        try {
          prepared = await reprepare(oomOverrides, last?.path ?? null);
        } catch (err) {
          io.human(`failed: the next setting (${choice.overrides.join(" ")}) could not be resolved: ${(err as Error).message}`);
          return 1;
        }
        spec = prepared.spec;
        continue;
      }

      const lines = failureLines(outcome, r, spec, logs);
      for (const l of lines) io.human(l);
      if (outcome.kind === "stalled" || outcome.kind === "dead") {
        appendEvent(spec.events_path, {
          type: "error", rank: outcome.kind === "stalled" ? r.stall!.rank.rank : (outcome.rank ?? 0),
          code: outcome.kind === "stalled" ? "STALLED" : "RANK_DIED", message: lines[0]!.replace(/^failed: /, ""),
          phase: outcome.kind === "stalled" ? r.stall!.rank.phase : (r.dead?.beat.phase ?? null),
          step: outcome.kind === "stalled" ? r.stall!.rank.step : (r.dead?.beat.step ?? r.lastStep), traceback: null,
        });
      }
      const progressed = r.lastStep > r.startStep;
      if (!resumable(outcome) || !policy.autoResume || prepared.spec.distributed.nnodes > 1) {
        if (resumable(outcome) && !policy.autoResume && last) {
          io.human(`Continue from ${last.path} with: whet train --resume ${runDir} (or set auto_resume: true to do it by itself).`);
        }
        return 1;
      }
      if (restarts >= policy.maxRestarts || !progressed) {
        io.human(!progressed ? "auto_resume: this attempt made no progress, so another would fail the same way; giving up." : `auto_resume: the limit of ${policy.maxRestarts} restarts is reached.`);
        return 1;
      }
      restarts += 1;
      io.human(`auto_resume: restarting (${restarts}/${policy.maxRestarts}) ${last ? `from ${last.path}` : "from the start (no checkpoint yet)"}`);
      appendEvent(spec.events_path, {
        type: "warning", rank: 0, code: "AUTO_RESUME", attempt,
        message: `restarting after ${outcome.kind === "error" ? outcome.error.code : outcome.kind} ${last ? `from ${last.path}` : "from the start"}`,
        resume_from: last?.path ?? null,
      });
      spec = { ...spec, fault: null, checkpoint: { ...spec.checkpoint, resume_from: last?.path ?? null } };
      prepared = { ...prepared, spec };
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function failureLines(o: Outcome, r: SuperviseResult, spec: RunSpec, logs: string): string[] {
  const texts = [...r.errors.flatMap((e) => [e.message, e.traceback ?? ""]), ...readTail(logs)];
  const causes = renderCauses(matchKnownCauses(texts));
  switch (o.kind) {
    case "nan":
    case "zero_loss": {
      const e = o.kind === "nan" ? o.error : null;
      const head =
        o.kind === "nan"
          ? `failed: the loss became NaN at step ${e?.step ?? r.lastStep}${e ? ` on rank ${e.rank}` : ""}; training stopped rather than train on.`
          : `failed: the loss was exactly 0 for ${o.steps.length} logged steps (steps ${o.steps.map((s) => s.step).join(", ")}); training stopped rather than train on.`;
      return [head, "diagnosis:", ...diagnoseLoss(spec, e, r.recentSteps).map((d) => `  - ${d}`), `logs: ${logs}/rank-${e?.rank ?? 0}.log`];
    }
    case "stalled":
      return [...stallLines(r, logs), ...causes];
    case "dead":
      return [...deadLines(r, logs), ...causes];
    case "error":
      return [...errorLines(o.error, r.lastStep, logs), ...causes];
    default:
      return [`failed: ${o.kind}`];
  }
}

function memTotal(e: { [k: string]: unknown } | null): number | null {
  const gib = e?.mem_total_gib;
  return typeof gib === "number" && gib > 0 ? gib * 1024 ** 3 : null;
}

function memText(e: { [k: string]: unknown } | null): string {
  const f = (k: string) => (typeof e?.[k] === "number" ? (e[k] as number).toFixed(2) : null);
  const parts = [["peak", f("mem_peak_gib")], ["reserved", f("mem_reserved_gib")], ["free", f("mem_free_gib")], ["of", f("mem_total_gib")]]
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${v} GiB`);
  return parts.length ? `, ${parts.join(", ")}` : "";
}

/** The planner prices settings of GPU runs; on the CPU its numbers mean nothing. */
function predictor(p: PreparedRun, spec: RunSpec): ((s: MemorySetting) => number | null) | undefined {
  if (spec.distributed.device !== "cuda" || !p.config || !p.modelConfig) return undefined;
  return plannerPredict(p.config, p.modelConfig, spec.distributed.world_size);
}

function describeSetting(s: MemorySetting, world: number): string {
  const ck = s.checkpointing.mode === "selective" ? `selective/${s.checkpointing.every}` : s.checkpointing.mode;
  return `micro-batch ${s.microBatch} × accumulation ${s.accumulation} × ${world} process(es), checkpointing ${ck}, sharding ${s.sharding === "none" ? "ddp" : s.sharding}, offload ${s.offload}`;
}

export function planSummary(spec: RunSpec) {
  return {
    world_size: spec.distributed.world_size,
    micro_batch_size: spec.train.micro_batch_size,
    gradient_accumulation_steps: spec.train.gradient_accumulation_steps,
    global_batch_rows: spec.train.global_batch_rows,
    max_steps: spec.train.max_steps,
    precision: spec.precision,
  };
}

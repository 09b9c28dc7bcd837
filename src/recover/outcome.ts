// What one attempt came to, read from the supervisor's result, and the words for it. Pure.
import type { ErrorEvent, StepEvent } from "../events/schema.ts";
import type { RankFailure, SuperviseResult } from "../launch/supervisor.ts";
import type { RunSpec } from "../spec/runspec.ts";
import { STALL_CAUSES } from "./nccl.ts";

export type Outcome =
  | { kind: "done" }
  | { kind: "stopped"; byUser: boolean }
  | { kind: "oom"; error: ErrorEvent | null }
  | { kind: "nan"; error: ErrorEvent | null }
  | { kind: "zero_loss"; steps: StepEvent[] }
  | { kind: "stalled" }
  | { kind: "dead"; rank: number | null }
  | { kind: "error"; error: ErrorEvent };

/** Errors another rank's failure caused; the first other error is the root. */
const SECONDARY = new Set(["PEER_FAILED"]);

export function rootError(errors: ErrorEvent[]): ErrorEvent | null {
  return errors.find((e) => !SECONDARY.has(e.code)) ?? null;
}

export function classify(r: SuperviseResult): Outcome {
  if (r.done) return { kind: "done" };
  if (r.stall) return { kind: "stalled" };
  if (r.zeroLoss) return { kind: "zero_loss", steps: r.zeroLoss };
  const root = rootError(r.errors);
  if (root?.code === "OOM" || (!root && r.failure?.exitCode === 3)) return { kind: "oom", error: root };
  if (root?.code === "NAN_LOSS" || (!root && r.failure?.exitCode === 4)) return { kind: "nan", error: root };
  if (r.stoppedCleanly || (r.interrupted && !root)) return { kind: "stopped", byUser: r.interrupted };
  if (root) return { kind: "error", error: root };
  return { kind: "dead", rank: deadRank(r)?.rank ?? null };
}

/** Codes that mean the input or the setup is wrong: running again changes nothing. */
const NOT_RETRYABLE = new Set(["SPEC_INVALID", "CHECKPOINT_INVALID", "MODEL_INVALID", "DATA_INVALID"]);

/** Whether auto_resume may start this outcome again from the last checkpoint. */
export function resumable(o: Outcome): boolean {
  if (o.kind === "dead" || o.kind === "stalled") return true;
  return o.kind === "error" && !NOT_RETRYABLE.has(o.error.code);
}

const FIELD = (e: ErrorEvent | null, k: string): unknown => (e as Record<string, unknown> | null)?.[k];

/** Why a loss went NaN or to 0, from the error, the spec and the last logged steps. */
export function diagnoseLoss(spec: RunSpec, error: ErrorEvent | null, steps: StepEvent[]): string[] {
  const out: string[] = [];
  const dtype = (FIELD(error, "compute_dtype") as string | undefined) ?? spec.precision.compute_dtype;
  const lr = (FIELD(error, "lr") as number | undefined) ?? steps.at(-1)?.lr ?? spec.train.learning_rate;
  const full = spec.method.finetuning_type === "full";
  if (dtype === "float16") {
    out.push("fp16 overflow: float16 tops out at 65504 and activations or gradients passed it. Use bf16: true (Ampere GPUs and newer); on older GPUs lower the learning rate.");
  }
  const high = full ? 1e-4 : 1e-3;
  if (lr > high) {
    out.push(`learning rate ${lr.toPrecision(3)} is high for ${full ? "full fine-tuning (usual: 1e-5 to 5e-5)" : "LoRA (usual: 1e-4 to 5e-4)"}; lower learning_rate or add warmup_steps.`);
  }
  const norms = steps.map((s) => s.grad_norm).filter((g): g is number => g !== null);
  if (norms.length >= 3 && norms.at(-1)! > 10 * norms[0]!) {
    out.push(`the gradient norm grew from ${norms[0]!.toPrecision(3)} to ${norms.at(-1)!.toPrecision(3)} over the last logged steps: training diverged. Keep max_grad_norm at 1.0 and lower the learning rate.`);
  }
  if (steps.some((s) => s.trained_tokens === 0) || (error === null && steps.length > 0)) {
    out.push("empty loss mask: a batch had no token that carries loss (all prompt, or cut off by cutoff_len). Check the data with 'whet data inspect', raise cutoff_len, or set train_on_prompt: true.");
  }
  if (out.length === 0) out.push(`compute ${dtype}, learning rate ${lr.toPrecision(3)}: nothing stands out; check the data of that step with 'whet data inspect' and try a lower learning rate.`);
  return out;
}

export function stallLines(r: SuperviseResult, logsDir: string): string[] {
  const s = r.stall!;
  const b = s.rank;
  const where = (x: typeof b) => `step ${x.step ?? "-"} (${x.phase})`;
  const lines = [
    s.together
      ? `failed: every rank stopped making progress at ${where(b)} for ${Math.round(s.stuckS)} s (limit ${Math.round(s.timeoutS)} s): they wait in a collective together.`
      : `failed: rank ${b.rank} (pid ${b.pid} on ${b.host}) stalled at ${where(b)} for ${Math.round(s.stuckS)} s (limit ${Math.round(s.timeoutS)} s); it is behind the others (${s.ranks.filter((x) => x.rank !== b.rank).map((x) => `rank ${x.rank} at ${where(x)}`).join(", ")})${s.why ? `: ${s.why}` : ""}.`,
  ];
  lines.push(s.stacksPath ? `stacks: ${s.stacksPath}` : "stacks: could not be taken");
  lines.push(`logs: ${logsDir}/rank-${b.rank}.log`);
  lines.push("usual causes:", ...STALL_CAUSES.map((c) => `  - ${c}`));
  return lines;
}

/** The rank that died without a word: the one the heartbeats saw go, else the one torchrun
 *  lists that sent no error event (its root cause may be a rank that only lost its peer). */
export function deadRank(r: SuperviseResult): RankFailure | null {
  const beat = r.dead?.beat;
  const silent = r.failures.filter((f) => !r.errors.some((e) => e.rank === f.rank));
  if (beat) return r.failures.find((f) => f.rank === beat.rank) ?? { rank: beat.rank, exitCode: null, signal: null, host: beat.host };
  return silent[0] ?? r.failure;
}

export function deadLines(r: SuperviseResult, logsDir: string): string[] {
  const f = deadRank(r);
  const beat = r.dead?.beat ?? null;
  const rank = f?.rank ?? null;
  const how = f?.signal ? `was killed by ${f.signal}` : f?.exitCode !== null && f?.exitCode !== undefined ? `exited with code ${f.exitCode}` : "died";
  const host = beat?.host ?? f?.host ?? null;
  const who = rank === null ? "the launcher" : `rank ${rank}${host ? ` on ${host}` : ""}`;
  const seen = beat ? ` (last heartbeat: step ${beat.step ?? "-"}, ${beat.phase})` : "";
  return [
    `failed: ${who} ${how} after step ${r.lastStep}${seen} without reporting an error; every other rank was stopped.`,
    `logs: ${rank === null ? `${logsDir}/launcher.log` : `${logsDir}/rank-${rank}.log and ${logsDir}/launcher.log`}`,
  ];
}

export function errorLines(e: ErrorEvent, lastStep: number, logsDir: string): string[] {
  const lines = [`failed: rank ${e.rank} reported ${e.code} at step ${e.step ?? lastStep}${e.phase ? ` (${e.phase})` : ""}: ${e.message}`];
  if (e.code === "INTERNAL") lines.push(`This is a bug in whet, not in your input: please report it with ${logsDir}/rank-${e.rank}.log.`);
  lines.push(`logs: ${logsDir}/rank-${e.rank}.log and ${logsDir}/launcher.log`);
  return lines;
}

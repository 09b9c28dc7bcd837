import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { classify, diagnoseLoss, resumable, rootError, stallLines, deadLines, errorLines } from "./outcome.ts";
import type { SuperviseResult } from "../launch/supervisor.ts";
import type { ErrorEvent, StepEvent } from "../events/schema.ts";
import type { RunSpec } from "../spec/runspec.ts";
import { settingOfSpec } from "./oom.ts";

const SPEC = JSON.parse(readFileSync(new URL("../../tests/fixtures/runs/20250102-090000-full-sft/spec.json", import.meta.url), "utf8")) as RunSpec;

const result = (over: Partial<SuperviseResult> = {}): SuperviseResult => ({
  exitCode: 1, signal: null, done: null, errors: [], lastStep: 4, startStep: 0, interrupted: false, stoppedCleanly: false,
  failure: null, failures: [], stall: null, dead: null, zeroLoss: null, recentSteps: [], beats: [], ...over,
});
const error = (code: string, rank = 0, extra: Record<string, unknown> = {}): ErrorEvent =>
  ({ type: "error", time: 1, rank, code, message: `${code} happened`, phase: "forward", step: 3, traceback: null, ...extra }) as ErrorEvent;
const step = (n: number, extra: Partial<StepEvent> = {}): StepEvent => ({
  type: "step", time: n, rank: 0, step: n, total_steps: 10, epoch: 0, loss: 2, lr: 1e-5, grad_norm: 1, trained_tokens: 100, tokens: 120,
  tokens_per_s: 1, step_time_s: 1, data_time_s: 0, mem_allocated_gib: 0, mem_reserved_gib: 0, mem_peak_gib: 0, ...extra,
});

test("the root error is the first that another rank's failure did not cause", () => {
  assert.equal(rootError([error("PEER_FAILED", 1), error("OOM", 0)])?.code, "OOM");
  assert.equal(rootError([error("PEER_FAILED", 1)]), null);
});

test("each outcome is read from events first, exit codes second", () => {
  assert.equal(classify(result({ exitCode: 0, done: {} as SuperviseResult["done"] })).kind, "done");
  assert.equal(classify(result({ errors: [error("PEER_FAILED", 1), error("OOM", 0)] })).kind, "oom");
  assert.equal(classify(result({ failure: { rank: 0, exitCode: 3, signal: null } })).kind, "oom");
  assert.equal(classify(result({ errors: [error("NAN_LOSS")] })).kind, "nan");
  assert.equal(classify(result({ failure: { rank: 1, exitCode: 7, signal: null }, errors: [error("PEER_FAILED")] })).kind, "dead");
  assert.equal(classify(result({ errors: [error("FAULT_INJECTED", 1)] })).kind, "error");
  // torchrun exits 1 on SIGTERM although the workers stopped cleanly with a checkpoint
  assert.deepEqual(classify(result({ interrupted: true, stoppedCleanly: true })), { kind: "stopped", byUser: true });
  assert.equal(classify(result({ zeroLoss: [step(1, { loss: 0 })], stoppedCleanly: true })).kind, "zero_loss");
});

test("auto_resume restarts crashes, dead and stalled ranks, never bad input", () => {
  assert.equal(resumable({ kind: "dead", rank: 1 }), true);
  assert.equal(resumable({ kind: "stalled" }), true);
  assert.equal(resumable({ kind: "error", error: error("INTERNAL") }), true);
  assert.equal(resumable({ kind: "error", error: error("SPEC_INVALID") }), false);
  assert.equal(resumable({ kind: "nan", error: null }), false);
});

test("a NaN's diagnosis names fp16 overflow, a high learning rate, diverging gradients, an empty loss mask", () => {
  const fp16 = { ...SPEC, precision: { ...SPEC.precision, compute_dtype: "float16" as const } };
  const d = diagnoseLoss(fp16, error("NAN_LOSS", 0, { compute_dtype: "float16", lr: 5e-4 }), [step(1, { grad_norm: 1 }), step(2, { grad_norm: 8 }), step(3, { grad_norm: 40, trained_tokens: 0 })]);
  assert.match(d[0]!, /fp16 overflow.*bf16: true/);
  assert.match(d[1]!, /learning rate 0\.000500 is high for full fine-tuning/);
  assert.match(d[2]!, /gradient norm grew from 1\.00 to 40\.0/);
  assert.match(d[3]!, /empty loss mask/);
  const calm = diagnoseLoss(SPEC, error("NAN_LOSS", 0, { compute_dtype: "float32", lr: 1e-5 }), [step(1)]);
  assert.equal(calm.length, 1);
  assert.match(calm[0]!, /nothing stands out/);
});

test("failure lines name the rank, the host, the step, how it ended and the log", () => {
  const beat = { rank: 1, pid: 42, host: "node-3", step: 7, phase: "backward", time: 1, progress_time: 1, exit_code: null };
  const dead = deadLines(result({ dead: { beat, detectedAfterS: 0.4 }, failure: { rank: 0, exitCode: 1, signal: null }, failures: [{ rank: 0, exitCode: 1, signal: null }, { rank: 1, exitCode: -9, signal: "SIGKILL" }] }), "/r/logs");
  assert.match(dead[0]!, /rank 1 on node-3 was killed by SIGKILL after step 4 \(last heartbeat: step 7, backward\)/);
  assert.match(dead[1]!, /\/r\/logs\/rank-1\.log/);
  const stall = stallLines(result({ stall: { rank: { ...beat, phase: "forward" }, ranks: [{ ...beat, rank: 0, step: 7, phase: "backward" }, { ...beat, phase: "forward" }], stuckS: 31, timeoutS: 30, together: false, stacksPath: "/r/logs/stacks.log" } }), "/r/logs");
  assert.match(stall[0]!, /rank 1 \(pid 42 on node-3\) stalled at step 7 \(forward\) for 31 s.*rank 0 at step 7 \(backward\)/);
  assert.ok(stall.includes("stacks: /r/logs/stacks.log"));
  assert.ok(stall.some((l) => /NCCL_P2P_DISABLE=1/.test(l)) && stall.some((l) => /mismatched collectives/.test(l)));
  assert.match(errorLines(error("INTERNAL", 2), 3, "/r/logs")[1]!, /bug in whet.*rank-2\.log/);
  // No heartbeat saw it: the rank torchrun lists without an error event of its own.
  const unseen = result({ errors: [error("PEER_FAILED", 0)], failure: { rank: 0, exitCode: 1, signal: null }, failures: [{ rank: 0, exitCode: 1, signal: null }, { rank: 1, exitCode: 7, signal: null }] });
  assert.deepEqual(classify(unseen), { kind: "dead", rank: 1 });
  assert.match(deadLines(unseen, "/r/logs")[0]!, /rank 1 exited with code 7 after step 4 without/);
});

test("the memory setting of a spec", () => {
  const s = settingOfSpec(SPEC);
  assert.equal(s.microBatch, 4);
  assert.equal(s.accumulation, 2);
});

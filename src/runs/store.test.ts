import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deriveStatus, isValidRunId, parseEvents, runDirOf, readSpec, currentAttempt, type ProcessRecord } from "./store.ts";
import { parseEventLine, type WhetEvent } from "../events/schema.ts";

const FIXTURES = fileURLToPath(new URL("../../tests/fixtures/runs/", import.meta.url));

const hello = (time: number, start = 0): WhetEvent => ({ type: "hello", time, rank: 0, protocol: 1, world_size: 1, hostname: "h", device: "cpu", versions: {}, trainable_params: 1, total_params: 1, start_step: start });
const step = (time: number, n: number): WhetEvent => ({ type: "step", time, rank: 0, step: n, total_steps: 10, epoch: 0, loss: 1, lr: 1, grad_norm: null, trained_tokens: 1, tokens: 1, tokens_per_s: 1, step_time_s: 1, data_time_s: 0, mem_allocated_gib: 0, mem_reserved_gib: 0, mem_peak_gib: 0 });
const proc = (over: Partial<ProcessRecord> = {}): ProcessRecord => ({ pid: 1, argv: [], started: 0, stop_requested: null, exit_code: null, exit_signal: null, ...over });

test("the recorded runs are valid per the events and RunSpec schemas", () => {
  for (const id of readdirSync(FIXTURES)) {
    const dir = join(FIXTURES, id);
    if (!existsSync(join(dir, "events.jsonl"))) continue;
    assert.ok(readSpec(dir), `${id}/spec.json`);
    const lines = readFileSync(join(dir, "events.jsonl"), "utf8").split("\n");
    const whole = id.includes("truncated") ? lines.slice(0, -2) : lines.filter(Boolean);
    for (const l of whole) assert.ok(parseEventLine(l).ok, `${id}: ${l}`);
  }
});

test("run ids are single plain folder names", () => {
  for (const ok of ["20250101-100000-lora-sft", "a", "run_1.2"]) assert.ok(isValidRunId(ok), ok);
  for (const bad of ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "-x", "a..b", "x\0", "/etc", "a b"]) assert.ok(!isValidRunId(bad), bad);
  assert.equal(runDirOf("/runs", "../etc"), undefined);
  assert.equal(runDirOf("/runs", "abc"), "/runs/abc");
});

test("parseEvents skips bad lines and notices a truncated end", () => {
  const ok = JSON.stringify(step(1, 1));
  const r = parseEvents(`${ok}\nnot json\n\n${ok}\n{"type":"st`);
  assert.equal(r.events.length, 2);
  assert.equal(r.truncated, true);
  assert.deepEqual(r.skipped.map((s) => s.line), [2, 5]);
  assert.equal(parseEvents("").events.length, 0);
});

test("status: done, running by pid or by fresh events, stopped, failed", () => {
  const now = 1000;
  const st = (events: WhetEvent[], p: ProcessRecord | null, alive: boolean | null) => deriveStatus({ events, proc: p, alive, now }).status;
  const done: WhetEvent = { type: "done", time: 990, rank: 0, run_dir: "", steps: 1, first_loss: 1, last_loss: 1, export_dir: null, elapsed_s: 1 };
  assert.equal(st([hello(900), step(901, 1), done], null, null), "done");
  assert.equal(st([hello(900), step(990, 1)], proc(), true), "running");
  assert.equal(st([hello(900), step(990, 1)], null, null), "running", "fresh events without a pid");
  assert.equal(st([hello(100), step(101, 1)], null, null), "failed", "stale events without a pid");
  assert.equal(st([], proc(), true), "running", "starting: no events yet");
  assert.equal(st([hello(900)], proc({ stop_requested: 950 }), false), "stopped");
  assert.equal(st([hello(900)], proc({ exit_code: 130 }), false), "stopped");
  assert.equal(st([hello(900)], proc({ exit_code: 2 }), false), "failed");
  const err: WhetEvent = { type: "error", time: 102, rank: 1, code: "OOM", message: "m", phase: null, step: 2, traceback: null };
  assert.equal(st([hello(100), step(101, 1), err], null, null), "failed");
  const ckpt: WhetEvent = { type: "checkpoint", time: 102, rank: 0, step: 1, path: "p", size_bytes: 1, save_time_s: 0 };
  assert.equal(st([hello(100), step(101, 1), ckpt], null, null), "stopped", "ended cleanly on a checkpoint");
  // A resume starts a new attempt: the old error no longer decides.
  assert.equal(st([hello(100), err, hello(990, 1), step(995, 2)], proc(), true), "running");
  assert.equal(currentAttempt([hello(1), err, hello(2, 1)]).length, 1);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { supervise, parseTorchrunFailure, parseTorchrunFailures } from "./supervisor.ts";
import { parseEventLine, type WhetEvent } from "../events/schema.ts";

const FAKE = new URL("../../tests/fixtures/fake-worker.mjs", import.meta.url).pathname;
const GOLDEN = new URL("../../tests/golden/events/", import.meta.url).pathname;

async function runFake(golden: string, behaviour: string, extra: { errorGraceMs?: number; killGraceMs?: number } = {}, before = "") {
  const dir = mkdtempSync(join(tmpdir(), "whet-sup-"));
  if (before) writeFileSync(join(dir, "events.jsonl"), before);
  const events: WhetEvent[] = [];
  const garbage: string[] = [];
  const started = Date.now();
  const result = await supervise({
    argv: [process.execPath, FAKE, join(dir, "events.jsonl"), join(GOLDEN, golden), behaviour],
    env: process.env,
    eventsPath: join(dir, "events.jsonl"),
    launcherLog: join(dir, "launcher.log"),
    onEvent: (e) => events.push(e),
    onGarbage: (r) => garbage.push(r),
    ...extra,
  });
  return { result, events, garbage, dir, ms: Date.now() - started };
}

test("golden events all parse", () => {
  for (const name of ["train-ok.jsonl", "oom.jsonl"]) {
    const lines = readFileSync(join(GOLDEN, name), "utf8").split("\n").filter(Boolean);
    assert.ok(lines.length > 0);
    for (const line of lines) assert.equal(parseEventLine(line).ok, true, `${name}: ${line}`);
  }
});

test("a clean run streams every event and ends with done", async () => {
  const { result, events, garbage } = await runFake("train-ok.jsonl", "exit:0");
  assert.equal(result.exitCode, 0);
  assert.equal(garbage.length, 0);
  assert.equal(events[0]?.type, "hello");
  assert.equal(events.at(-1)?.type, "done");
  assert.ok(result.done);
  assert.ok(result.lastStep > 0);
  assert.equal(result.failure, null);
});

test("garbage lines are warnings, not crashes, and a truncated last line is reported", async () => {
  const { result, garbage } = await runFake("train-ok.jsonl", "garbage");
  assert.equal(result.exitCode, 0);
  assert.equal(garbage.length, 3);
  assert.match(garbage[0]!, /not JSON/);
  assert.match(garbage[2]!, /truncated/);
});

test("an error event stops ranks that hang, within the grace periods", async () => {
  const { result, ms } = await runFake("oom.jsonl", "hang", { errorGraceMs: 300, killGraceMs: 300 });
  assert.equal(result.errors[0]?.code, "OOM");
  assert.ok(result.signal === "SIGTERM" || result.signal === "SIGKILL" || result.exitCode !== 0);
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test("a dead rank is named from torchrun's report", async () => {
  const { result } = await runFake("train-ok.jsonl", "kill-self");
  assert.equal(result.exitCode, 1);
  assert.deepEqual(result.failure, { rank: 1, exitCode: -9, signal: "signal 9", host: null });
});

test("parseTorchrunFailure reads exit codes and signals", () => {
  const text = "junk\nRoot Cause (first observed failure):\n[0]:\n  time      : 2025-01-01_10:00:00\n  host      : node-7\n  rank      : 3 (local_rank: 1)\n  exitcode  : 4 (pid: 1)\n";
  assert.deepEqual(parseTorchrunFailure(text), { rank: 3, exitCode: 4, signal: null, host: "node-7" });
  assert.deepEqual(parseTorchrunFailure("nothing"), { rank: null, exitCode: null, signal: null, host: null });
  const both = "Failures:\n[1]:\n  host      : vm\n  rank      : 1 (local_rank: 1)\n  exitcode  : 7 (pid: 9)\n----\nRoot Cause (first observed failure):\n[0]:\n  host      : vm\n  rank      : 0 (local_rank: 0)\n  exitcode  : 1 (pid: 8)\n";
  assert.deepEqual(parseTorchrunFailures(both).map((f) => [f.rank, f.exitCode]), [[1, 7], [0, 1]]);
  assert.equal(parseTorchrunFailure(both).rank, 0);
});

test("a later attempt of the same run reads only the events it adds", async () => {
  const earlier = JSON.stringify({ type: "error", time: 1, rank: 1, code: "OOM", message: "old", phase: "forward", step: 3, traceback: null }) + "\n";
  const { result, events } = await runFake("train-ok.jsonl", "exit:0", {}, earlier);
  assert.deepEqual(result.errors, []);
  assert.equal(events[0]?.type, "hello");
  assert.ok(result.done);
});

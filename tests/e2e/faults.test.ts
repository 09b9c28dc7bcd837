// Recovery end to end on the CPU, with real processes and faults injected into the worker
// (WHET_FAULT=kind:rank:step): an OOM retried with a smaller micro-batch and the same global
// batch, a dead rank resumed by auto_resume to the same loss as an uninterrupted run, a hung rank
// named with its stack, a NaN diagnosed and not retried, Ctrl-C as a checkpoint and a clean stop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ALPACA, REPO, tempDir, tinyModel, whet } from "./helpers.ts";
import { parseEventLine, type WhetEvent } from "../../src/events/schema.ts";
import { deriveStatus } from "../../src/runs/store.ts";

const root = tempDir("whet-faults-");
const model = tinyModel(root);
// One shard cache for every run here: the data is tokenized once.
const env = { WHET_CACHE_DIR: join(root, "cache") };

function config(name: string, extra: string[] = []): { file: string; runDir: string } {
  const runDir = join(root, name);
  const file = join(root, `${name}.yaml`);
  const lines = [
    `model_name_or_path: ${model}`, "random_init: true", "finetuning_type: full", `dataset: ${ALPACA}`, "max_samples: 200",
    "cutoff_len: 64", "packing: true", "per_device_train_batch_size: 2", "gradient_accumulation_steps: 1", "learning_rate: 3.0e-3",
    "max_steps: 4", "logging_steps: 1", "save_steps: 2", "device: cpu", "nproc: 2", `output_dir: ${runDir}`, ...extra,
  ];
  // Later lines win: extra keys replace the defaults above.
  const keys = new Map(lines.map((l) => [l.split(":")[0], l]));
  writeFileSync(file, [...keys.values()].join("\n") + "\n");
  return { file, runDir };
}

function events(runDir: string): WhetEvent[] {
  return readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n").map((l) => {
    const p = parseEventLine(l);
    assert.ok(p.ok, `not an event: ${l}`);
    return (p as { event: WhetEvent }).event;
  });
}

const stepLosses = (ev: WhetEvent[]) => new Map(ev.flatMap((e) => (e.type === "step" ? [[e.step, e.loss] as const] : [])));
const noTrace = (text: string) => assert.doesNotMatch(text, /Traceback|\n\s+at .*:\d+:\d+\)?\n/);

/** No worker of this run outlives whet train. */
function assertNoWorkersLeft(runDir: string) {
  const ps = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).stdout;
  assert.deepEqual(ps.split("\n").filter((l) => l.includes(join(runDir, "spec.json"))), [], "worker processes were left running");
}

test("an OOM is retried from the last checkpoint with half the micro-batch and the same global batch", { timeout: 300_000 }, async () => {
  const { file, runDir } = config("oom", ["nproc: 1"]);
  const r = await whet(["train", file], { env: { ...env, WHET_FAULT: "oom:0:3" } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /out of memory: rank 0 at step 3 \(forward\)/);
  assert.match(r.stderr, /retrying \(1\/3\) from .*step-2 with micro-batch 2 -> 1 with accumulation 1 -> 2 \(global batch 2 rows kept\)/);
  noTrace(r.stderr);
  const ev = events(runDir);
  const retry = ev.find((e) => e.type === "warning" && e.code === "OOM_RETRY") as Record<string, unknown> | undefined;
  assert.deepEqual(retry?.overrides, ["per_device_train_batch_size=1", "gradient_accumulation_steps=2"]);
  const spec = JSON.parse(readFileSync(join(runDir, "spec.json"), "utf8"));
  assert.deepEqual([spec.train.micro_batch_size, spec.train.gradient_accumulation_steps, spec.train.global_batch_rows], [1, 2, 2]);
  assert.equal(spec.fault, null, "the fault is not injected into the retry");
  const hellos = ev.filter((e) => e.type === "hello" && e.rank === 0);
  assert.deepEqual(hellos.map((e) => e.type === "hello" && e.start_step), [0, 2]);
  assert.equal(ev.at(-1)?.type, "done");
  assert.deepEqual([...stepLosses(ev).keys()].sort(), [1, 2, 3, 4]);
});

test("a dead rank stops the job; auto_resume ends at the loss of an uninterrupted run", { timeout: 400_000 }, async () => {
  const base = config("uninterrupted");
  const clean = await whet(["train", base.file], { env });
  assert.equal(clean.code, 0, clean.stderr);

  const { file, runDir } = config("dead", ["auto_resume: true"]);
  const r = await whet(["train", file], { env: { ...env, WHET_FAULT: "exit:1:3" } });
  assert.equal(r.code, 0, r.stderr);
  // The message names the rank, the host, the exit code, the step and the log.
  assert.match(r.stderr, /failed: rank 1 on \S+ exited with code 7 after step 2 .*without reporting an error; every other rank was stopped/);
  assert.match(r.stderr, new RegExp(`logs: ${join(runDir, "logs", "rank-1.log")}`));
  assert.match(r.stderr, /auto_resume: restarting \(1\/3\) from .*step-2/);
  noTrace(r.stderr);
  const ev = events(runDir);
  assert.ok(ev.some((e) => e.type === "error" && e.code === "RANK_DIED" && e.rank === 1));
  const a = stepLosses(events(base.runDir));
  const b = stepLosses(ev);
  for (const s of [3, 4]) assert.equal(b.get(s), a.get(s), `step ${s}: ${b.get(s)} vs ${a.get(s)} uninterrupted`);
  assertNoWorkersLeft(runDir);
});

test("a hung rank is found within the stall timeout, named, and its stack dumped", { timeout: 300_000 }, async () => {
  const { file, runDir } = config("hang", ["max_steps: 6"]);
  const started = Date.now();
  const r = await whet(["train", file, "--stall-timeout", "5"], { env: { ...env, WHET_FAULT: "hang:1:3" } });
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /failed: rank 1 \(pid \d+ on \S+\) stalled at step 3 \(forward\)/);
  assert.match(r.stderr, /usual causes:[\s\S]*NCCL_P2P_DISABLE=1[\s\S]*mismatched collectives/);
  const stacks = join(runDir, "logs", "stacks.log");
  assert.match(r.stderr, new RegExp(`stacks: ${stacks}`));
  const text = readFileSync(stacks, "utf8");
  assert.match(text, /==== rank 1 .*====\n[\s\S]*File ".*faults\.py", line \d+ in before_forward/);
  assert.match(text, /==== rank 0 /);
  // Startup, two steps and the 5 s limit (or 10 × the median step when slower), not hours.
  assert.ok(seconds < 150, `took ${seconds} s`);
  assert.ok(events(runDir).some((e) => e.type === "error" && e.code === "STALLED" && e.rank === 1));
  assertNoWorkersLeft(runDir);
});

test("a NaN loss stops with a diagnosis and is not retried, even with auto_resume", { timeout: 300_000 }, async () => {
  const { file, runDir } = config("nan", ["nproc: 1", "auto_resume: true"]);
  const r = await whet(["train", file], { env: { ...env, WHET_FAULT: "nan:0:2" } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /failed: the loss became NaN at step 2 on rank 0/);
  assert.match(r.stderr, /diagnosis:\n  - learning rate 0\.00\d+ is high for full fine-tuning/);
  assert.doesNotMatch(r.stderr, /restarting|retrying/);
  noTrace(r.stderr);
  assert.equal(events(runDir).filter((e) => e.type === "hello").length, 1);
});

/** whet train as a child, interrupted with SIGINT once or twice after the first step. */
function interrupted(file: string, times: 1 | 2): Promise<{ code: number | null; stderr: string; afterMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, "bin", "whet.js"), "train", file, "--json"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let stderr = "";
    let sent = 0;
    child.stdout.on("data", (d) => {
      out += d;
      if (!sent && /"type":"step"/.test(out)) {
        sent = Date.now();
        child.kill("SIGINT");
        if (times === 2) setTimeout(() => child.kill("SIGINT"), 300);
      }
    });
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, afterMs: Date.now() - sent });
    });
  });
}

test("Ctrl-C writes a checkpoint at the next step boundary and stops cleanly", { timeout: 300_000 }, async () => {
  const { file, runDir } = config("ctrl-c", ["nproc: 1", "max_steps: 500", "save_steps: 0"]);
  const r = await interrupted(file, 1);
  assert.equal(r.code, 130, r.stderr);
  const ev = events(runDir);
  const ck = ev.filter((e) => e.type === "checkpoint");
  const last = Math.max(...ev.flatMap((e) => (e.type === "step" ? [e.step] : [])));
  assert.equal(ck.length, 1);
  assert.equal(ck[0]!.type === "checkpoint" && ck[0]!.step, last);
  assert.ok(existsSync(join(runDir, "checkpoints", `step-${last}`, "trainer_state.json")));
  assert.match(r.stderr, new RegExp(`stopped at step ${last}\\. Checkpoint .*; continue with: whet train --resume ${runDir}`));
  assert.equal(deriveStatus({ events: ev, proc: null, alive: null, now: Date.now() / 1000 + 3600 }).status, "stopped");
  noTrace(r.stderr);
  // --resume repeats the run's own launch: another process count is refused with the way to get it.
  const other = await whet(["train", "--resume", runDir, "--nproc", "2"]);
  assert.equal(other.code, 2, other.stderr);
  assert.match(other.stderr, /ran on 1 node\(s\) × 1 process\(es\); --resume continues it as it ran\. To continue on 1 × 2, .*auto_resume: true and --nproc 2/);
  noTrace(other.stderr);
});

test("a second Ctrl-C stops every rank at once", { timeout: 300_000 }, async () => {
  const { file, runDir } = config("ctrl-c-twice", ["nproc: 1", "max_steps: 500", "save_steps: 0"]);
  const r = await interrupted(file, 2);
  assert.equal(r.code, 130, r.stderr);
  assert.ok(r.afterMs < 5000, `took ${r.afterMs} ms`);
  assert.match(r.stderr, /stopping now: every rank is killed/);
  assertNoWorkersLeft(runDir);
});

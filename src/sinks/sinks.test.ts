import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseReportTo, startReportSinks } from "./index.ts";
import { findPython, WORKER_DIR } from "../launch/python.ts";
import { scalarsOf } from "../tensorboard/sink.ts";
import type { WhetEvent } from "../events/schema.ts";

const FAKES = join(WORKER_DIR, "tests", "fake_clients");
const python = findPython();

const hello: WhetEvent = { type: "hello", time: 1, rank: 0, protocol: 1, world_size: 1, hostname: "h", device: "cpu", versions: {}, trainable_params: 1, total_params: 1, start_step: 0 };
const step = (n: number, extra: Record<string, number> = {}): WhetEvent => ({
  type: "step", time: 1 + n, rank: 0, step: n, total_steps: 3, epoch: n / 3, loss: 3 / n, lr: 1e-4, grad_norm: 0.5, trained_tokens: 10,
  tokens: 20, tokens_per_s: 1000, step_time_s: 0.5, data_time_s: 0.01, mem_allocated_gib: 1, mem_reserved_gib: 2, mem_peak_gib: 3, ...extra,
});

function run(fakes = FAKES) {
  const dir = mkdtempSync(join(tmpdir(), "whet-sinks-"));
  const runDir = join(dir, "run-7");
  mkdirSync(runDir);
  writeFileSync(join(runDir, "spec.json"), JSON.stringify({ run_id: "run-7", train: { max_steps: 3 } }));
  const eventsPath = join(runDir, "events.jsonl");
  const calls = join(dir, "calls.jsonl");
  const env = { ...process.env, PYTHONPATH: `${fakes}:${WORKER_DIR}`, FAKE_CLIENT_LOG: calls, PYTHONUNBUFFERED: "1" };
  const read = (): any[] => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n").map((l) => JSON.parse(l)) : []);
  const write = (events: WhetEvent[]) => appendFileSync(eventsPath, events.map((e) => JSON.stringify(e) + "\n").join(""));
  return { runDir, eventsPath, env, read, write };
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("report_to: names, lists, all and none", () => {
  assert.deepEqual(parseReportTo("none"), []);
  assert.deepEqual(parseReportTo(undefined), []);
  assert.deepEqual(parseReportTo("wandb, MLflow"), ["wandb", "mlflow"]);
  assert.deepEqual(parseReportTo(["all"]), ["tensorboard", "wandb", "mlflow"]);
});

test("the wandb sidecar follows the run and logs the same tags as TensorBoard, at their steps", async () => {
  const r = run();
  const warnings: string[] = [];
  const events = [hello, step(1), step(2, { mfu: 0.4, comm_wait_time_s: 0.05 }), { type: "eval", time: 4, rank: 0, step: 2, eval_loss: 1.9 } as WhetEvent];
  r.write(events.slice(0, 2));
  const sinks = startReportSinks({ runDir: r.runDir, eventsPath: r.eventsPath, reportTo: "tensorboard,wandb,comet", python, env: r.env, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(sinks.started, ["wandb"], "tensorboard needs no sidecar");
  assert.match(warnings[0]!, /comet is not supported/);
  await until("step 1 logged", () => r.read().some((c) => c[0] === "log"));
  // An error, then another attempt (whet train's recovery): the sidecar keeps following.
  r.write([{ type: "error", time: 4, rank: 0, code: "NCCL_TIMEOUT", message: "x", phase: "forward", step: 2, traceback: null }]);
  await new Promise((res) => setTimeout(res, 4000));
  r.write([{ ...hello, time: 5, start_step: 1 } as WhetEvent, ...events.slice(2)]); // appended while it follows
  await sinks.stop();
  const calls = r.read();
  assert.equal(calls[0][0], "init");
  assert.equal(calls[0][1].name, "run-7");
  assert.equal(calls[0][1].config.train.max_steps, 3);
  const logged = calls.filter((c) => c[0] === "log").map((c) => ({ step: c[2], scalars: c[1] }));
  assert.deepEqual(logged, events.map(scalarsOf).filter(Boolean), "the Python tag rule matches scalarsOf");
  assert.deepEqual(calls.at(-1), ["finish", 0], "stopped (to be resumed) is not a failure in W&B");
});

test("a client that is not installed is a warning naming pip install, not a failure", async () => {
  const r = run(join(mkdtempSync(join(tmpdir(), "whet-nowandb-")), "x"));
  mkdirSync(join(r.env.PYTHONPATH!.split(":")[0]!), { recursive: true });
  writeFileSync(join(r.env.PYTHONPATH!.split(":")[0]!, "mlflow.py"), "raise ImportError(\"No module named 'mlflow'\")\n");
  r.write([hello, step(1)]);
  const warnings: string[] = [];
  const sinks = startReportSinks({ runDir: r.runDir, eventsPath: r.eventsPath, reportTo: ["mlflow"], python, env: r.env, onWarning: (m) => warnings.push(m) });
  await until("the warning", () => warnings.length > 0);
  await sinks.stop();
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(readFileSync(join(r.runDir, "logs", "sink-mlflow.log"), "utf8"), /pip install mlflow/);
  assert.match(warnings[0]!, /mlflow package is not installed .*pip install mlflow/);
});

// Launch, watch, stop and resume through the API, with tests/../fake-whet.mjs standing in for
// `whet train` (the real one is exercised by the browser tests).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { call, testServer, until } from "./testdata/helpers.ts";

const s = await testServer();
after(() => s.close());

async function summary(id: string) {
  return (await call(s.url, `/api/runs/${id}/summary`)).json;
}

/** Reads a server-sent event stream until `end` (or the timeout), returning its events. */
async function readStream(id: string, timeoutMs = 20_000): Promise<{ event: string; data: any }[]> {
  const res = await fetch(`${s.url}api/runs/${id}/stream`, { signal: AbortSignal.timeout(timeoutMs) });
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const out: { event: string; data: any }[] = [];
  let buf = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) out.push({ event, data: JSON.parse(data) });
    }
    if (out.some((e) => e.event === "end")) break;
  }
  return out;
}

test("a bad config is not launched: 422 with the problems", async () => {
  const before = (await call(s.url, "/api/runs")).json.runs.length;
  const r = await call(s.url, "/api/runs", { json: { fields: { dataset: "x" } } });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.code, "CONFIG_INVALID");
  assert.ok(r.json.error.details.problems.some((p: any) => p.key === "model_name_or_path"));
  assert.equal((await call(s.url, "/api/runs")).json.runs.length, before);
});

test("launch, stream, stop, resume and finish a run", async () => {
  const template = (await call(s.url, "/api/config/template")).json;
  const launched = await call(s.url, "/api/runs", { json: { fields: { ...template.fields, max_steps: 40 }, name: "ui test" } });
  assert.equal(launched.status, 200, launched.text);
  const id: string = launched.json.id;
  assert.match(id, /^\d{8}-\d{6}-ui-test$/);
  const dir = join(s.runsDir, id);
  const written = readFileSync(join(dir, "ui-config.yaml"), "utf8");
  assert.match(written, new RegExp(`output_dir: ${dir}`));
  assert.match(readFileSync(join(dir, "process.json"), "utf8"), /"pid": \d+/);

  await until("the run to step", async () => (await summary(id)).step >= 2);
  assert.equal((await summary(id)).status, "running");
  assert.equal((await call(s.url, `/api/runs/${id}/resume`, { json: {} })).json.error.code, "ALREADY_RUNNING");

  // The stream replays what is there, then follows.
  const streamed = readStream(id);
  const stop = await call(s.url, `/api/runs/${id}/stop`, { json: {} });
  assert.equal(stop.status, 200);
  assert.equal(typeof stop.json.process.stop_requested, "number");
  const events = await streamed;
  assert.ok(events.some((e) => e.event === "status"));
  assert.equal(events.find((e) => e.event === "whet")!.data.type, "hello");
  assert.ok(events.some((e) => e.event === "whet" && e.data.type === "checkpoint"));
  assert.equal(events.at(-1)!.event, "end");
  assert.equal(events.at(-1)!.data.status, "stopped");
  const stoppedAt = (await summary(id)).step;
  assert.ok(stoppedAt < 40);
  await until("the exit code to be recorded", () => JSON.parse(readFileSync(join(dir, "process.json"), "utf8")).exit_code === 130);

  const resumed = await call(s.url, `/api/runs/${id}/resume`, { json: {} });
  assert.equal(resumed.status, 200, resumed.text);
  assert.equal(resumed.json.process.stop_requested, null);
  await until("the resumed run to finish", async () => (await summary(id)).status === "done", 30_000);
  const done = await summary(id);
  assert.equal(done.step, 40);
  const ev = (await call(s.url, `/api/runs/${id}/events`)).json.events;
  assert.equal(ev.filter((e: any) => e.type === "hello").length, 2);
  assert.equal(ev.filter((e: any) => e.type === "hello")[1].start_step, stoppedAt);
  assert.ok(existsSync(join(dir, "logs", "cli.log")));
});

test("the stream of a finished run replays it and ends", async () => {
  const events = await readStream("20250101-100000-lora-sft");
  const types = events.filter((e) => e.event === "whet").map((e) => e.data.type);
  assert.equal(types.at(-1), "done");
  assert.equal(types.filter((t) => t === "step").length, 10);
  assert.equal(events.at(-1)!.data.status, "done");
});

test("the stream of a truncated file reports the bad lines and ends", async () => {
  const events = await readStream("20250103-120000-truncated");
  assert.equal(events.filter((e) => e.event === "whet").length, 4);
  assert.equal(events.filter((e) => e.event === "skipped").length, 1);
  assert.equal(events.at(-1)!.data.status, "failed");
});

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { call, rawRequest, testServer, DONE, FAILED, TRUNCATED, STOPPED } from "./testdata/helpers.ts";
import { sendError } from "./http.ts";

const s = await testServer();
after(() => s.close());

test("GET /api/health", async () => {
  const r = await call(s.url, "/api/health");
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { ok: true });
});

test("GET /api/runs lists run folders newest first with their state", async () => {
  const r = await call(s.url, "/api/runs");
  assert.equal(r.status, 200);
  const byId = Object.fromEntries(r.json.runs.map((x: any) => [x.id, x]));
  assert.deepEqual(r.json.runs.map((x: any) => x.id), [STOPPED, TRUNCATED, FAILED, DONE]);
  assert.equal(byId[DONE].status, "done");
  assert.equal(byId[DONE].model, "models/SmolLM2-135M-Instruct");
  assert.equal(byId[DONE].method, "lora r8 sft");
  assert.equal(byId[DONE].gpus, 2);
  assert.equal(byId[DONE].step, 10);
  assert.equal(byId[DONE].total_steps, 10);
  assert.ok(Math.abs(byId[DONE].last_loss - 0.906) < 0.01);
  assert.equal(byId[DONE].tokens_per_s, 16100);
  assert.equal(byId[FAILED].status, "failed");
  assert.match(byId[FAILED].error, /^OOM: CUDA out of memory/);
  assert.equal(byId[TRUNCATED].status, "failed");
  assert.equal(byId[TRUNCATED].step, 3);
  assert.equal(byId[STOPPED].status, "stopped");
  assert.equal(byId[STOPPED].launched_by_ui, true);
  assert.ok(!("not-a-run" in byId));
});

test("GET /api/runs/:id has the spec, plan, config, checkpoints, logs and launch command", async () => {
  const r = await call(s.url, `/api/runs/${DONE}`);
  assert.equal(r.status, 200);
  assert.equal(r.json.summary.status, "done");
  assert.equal(r.json.spec.run_id, DONE);
  assert.equal(r.json.plan.world_size, 2);
  assert.match(r.json.config_text, /finetuning_type: lora/);
  assert.deepEqual(r.json.checkpoints.map((c: any) => c.step), [5, 10]);
  assert.deepEqual(r.json.logs, ["rank-0.log"]);
  assert.match(r.json.launch.torchrun, /torch\.distributed\.run --nnodes 1 --nproc-per-node 2 .*whet_worker train --spec .*spec\.json/);
  assert.match(r.json.launch.whet, /^whet train .*config\.yaml$/);
});

test("GET /api/runs/:id/events replays the saved events; a truncated file is reported, not fatal", async () => {
  const done = await call(s.url, `/api/runs/${DONE}/events`);
  assert.equal(done.status, 200);
  assert.equal(done.json.truncated, false);
  assert.equal(done.json.events.at(-1).type, "done");
  const t = await call(s.url, `/api/runs/${TRUNCATED}/events`);
  assert.equal(t.status, 200);
  assert.equal(t.json.truncated, true);
  assert.deepEqual(t.json.events.map((e: any) => e.type), ["hello", "step", "step", "step"]);
  assert.equal(t.json.skipped.length, 2);
  assert.match(t.json.skipped[0].reason, /not JSON/);
});

test("GET /api/runs/:id/gpu reads the GPU samples from a byte offset, whole lines only", async () => {
  const path = join(s.runsDir, DONE, "gpu.jsonl");
  const all = await call(s.url, `/api/runs/${DONE}/gpu`);
  assert.equal(all.status, 200);
  assert.equal(all.json.samples.length, 13);
  assert.equal(all.json.skipped, 1, "a line that is not a sample is skipped");
  assert.equal(all.json.next, statSync(path).size);
  assert.equal(all.json.reset, false);
  assert.deepEqual(all.json.samples[1].gpus.map((g: any) => g.index), [0, 1]);
  assert.equal(all.json.samples[1].gpus[0].mem_total_gib, 79.647);

  // Live: ask from `next`; a line still being written is left for the next poll.
  const next = all.json.next;
  assert.deepEqual((await call(s.url, `/api/runs/${DONE}/gpu?from=${next}`)).json.samples, []);
  appendFileSync(path, JSON.stringify({ time: 1735725700, host: "gpu-node-1", gpus: [{ index: 0, util_pct: 50, mem_used_gib: 1, mem_total_gib: 80, power_w: null }] }) + "\n{\"time\":17357");
  const more = await call(s.url, `/api/runs/${DONE}/gpu?from=${next}`);
  assert.equal(more.json.samples.length, 1);
  assert.equal(more.json.samples[0].gpus[0].power_w, null);
  assert.equal(more.json.next, statSync(path).size - '{"time":17357'.length);

  const thinned = await call(s.url, `/api/runs/${DONE}/gpu?max=4`);
  assert.ok(thinned.json.samples.length <= 5);
  assert.equal(thinned.json.samples.at(-1).time, 1735725700, "thinning keeps the newest sample");
  const beyond = await call(s.url, `/api/runs/${DONE}/gpu?from=${10 ** 9}`);
  assert.equal(beyond.json.reset, true, "an offset past the end starts over");
  assert.equal(beyond.json.samples.length, 14);

  const none = await call(s.url, `/api/runs/${FAILED}/gpu`);
  assert.deepEqual(none.json, { samples: [], next: 0, skipped: 0, reset: false });
});

test("GET /api/runs/:id/summary and /logs/:name", async () => {
  assert.equal((await call(s.url, `/api/runs/${FAILED}/summary`)).json.status, "failed");
  const log = await call(s.url, `/api/runs/${DONE}/logs/rank-0.log`);
  assert.equal(log.status, 200);
  assert.equal(log.json.text, "rank 0 log\n");
  assert.equal((await call(s.url, `/api/runs/${DONE}/logs/rank-9.log`)).status, 404);
  assert.equal((await call(s.url, `/api/runs/${DONE}/logs/spec.json`)).status, 400);
});

test("bad ids and traversal attempts are refused with JSON errors", async () => {
  const cases: [string, number][] = [
    ["/api/runs/no-such-run", 404],
    ["/api/runs/not-a-run", 404],
    ["/api/runs/bad%20id", 400],
    ["/api/runs/.hidden", 400],
    ["/api/runs/../../etc/passwd", 400],
    ["/api/runs/%2e%2e/events", 400],
    ["/api/runs/%2E%2E%2F%2E%2E%2Fetc/events", 400],
    ["/api/runs/..%2F..%2Fetc%2Fpasswd", 400],
    ["/api/runs/%2Fetc%2Fpasswd", 400],
    ["/api/runs/%2Fetc%2Fpasswd/events", 400],
    ["/api/runs/no-such-run/gpu", 404],
    ["/api/runs/%2e%2e/gpu", 400],
    ["/api/runs/..%2F..%2Fetc/gpu", 400],
    [`/api/runs/${DONE}/gpu/..%2F..%2Fspec.json`, 400],
    [`/api/runs/${DONE}/gpu?from=-1`, 400],
    [`/api/runs/${DONE}/gpu?from=1e3`, 400],
    [`/api/runs/${DONE}/gpu?from=99999999999999999999`, 400],
    [`/api/runs/${DONE}/gpu?max=0`, 400],
    ["/api/runs//etc/passwd", 404],
    [`/api/runs/${DONE}/logs/..%2Fspec.json`, 400],
    [`/api/runs/${DONE}/logs/%2e%2e`, 400],
    [`/api/runs/${DONE}/../${DONE}/events`, 400],
    ["/api/runs/%E0%A4%A", 400],
    ["/api/nothing-here", 404],
    ["/../../etc/passwd", 400],
  ];
  for (const [path, status] of cases) {
    const r = await rawRequest(s.url, path);
    assert.equal(r.status, status, path);
    assert.equal(typeof r.json?.error?.code, "string", path);
    assert.equal(typeof r.json?.error?.message, "string", path);
    assert.doesNotMatch(r.text, /\n\s+at /, path);
  }
});

test("a wrong method is 405; a POST body must be JSON", async () => {
  assert.equal((await call(s.url, "/api/runs", { method: "DELETE" })).status, 405);
  const r = await call(s.url, `/api/runs/${DONE}/stop`, { method: "POST", body: "x", headers: { "Content-Type": "text/plain" } });
  assert.equal(r.status, 415);
  assert.equal((await call(s.url, "/api/config/validate", { method: "POST", body: "{nope", headers: { "Content-Type": "application/json" } })).status, 400);
});

test("stop and resume refuse runs they cannot act on", async () => {
  const notOurs = await call(s.url, `/api/runs/${DONE}/stop`, { json: {} });
  assert.equal(notOurs.status, 409);
  assert.equal(notOurs.json.error.code, "NOT_STOPPABLE");
  const stopped = await call(s.url, `/api/runs/${STOPPED}/stop`, { json: {} });
  assert.equal(stopped.json.error.code, "NOT_RUNNING");
  assert.equal((await call(s.url, `/api/runs/${DONE}/resume`, { json: {} })).json.error.code, "ALREADY_DONE");
  assert.equal((await call(s.url, `/api/runs/${FAILED}/resume`, { json: {} })).json.error.code, "NO_CHECKPOINT");
  assert.equal((await call(s.url, "/api/runs/..%2Fx/resume", { json: {} })).status, 400);
});

test("GET /api/compare diffs the resolved configs", async () => {
  const r = await call(s.url, `/api/compare?ids=${DONE},${FAILED}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.runs.map((x: any) => x.id), [DONE, FAILED]);
  const keys = r.json.diff.map((d: any) => d.key);
  assert.ok(keys.includes("train.learning_rate"));
  assert.ok(keys.includes("method.finetuning_type"));
  assert.ok(!keys.includes("run_id"));
  assert.ok(!keys.includes("distributed.world_size"), "equal values are not a difference");
  assert.equal((await call(s.url, `/api/compare?ids=${DONE}`)).status, 400);
  assert.equal((await call(s.url, `/api/compare?ids=${DONE},..%2Fx`)).status, 400);
  assert.equal((await call(s.url, `/api/compare?ids=${DONE},missing`)).status, 404);
});

test("a request from another site, or through a non-loopback Host name, is refused", async () => {
  const cross = await rawRequest(s.url, "/api/runs", { Origin: "http://evil.example" });
  assert.equal(cross.status, 403);
  const rebinding = await rawRequest(s.url, "/api/runs", { Host: "evil.example:80" });
  assert.equal(rebinding.status, 403);
  const same = await rawRequest(s.url, "/api/runs", { Origin: s.url.replace(/\/$/, "") });
  assert.equal(same.status, 200);
});

test("without the web build, pages say how to build it; the API still works", async () => {
  const r = await rawRequest(s.url, "/");
  assert.equal(r.status, 503);
  assert.match(r.text, /npm run build:web/);
});

test("the built app is served, and nothing outside it", async () => {
  const dist = join(s.runsDir, "dist");
  mkdirSync(join(dist, "assets"), { recursive: true });
  writeFileSync(join(dist, "index.html"), "<!doctype html><title>whet</title>");
  writeFileSync(join(dist, "assets", "app.js"), "console.log(1)");
  writeFileSync(join(dist, ".secret"), "no");
  const w = await testServer({ runsDir: s.runsDir, webDist: dist });
  try {
    const page = await rawRequest(w.url, "/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const js = await rawRequest(w.url, "/assets/app.js");
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    assert.equal(js.text, "console.log(1)");
    assert.match((await rawRequest(w.url, "/.secret")).text, /<title>whet/);
    assert.equal((await rawRequest(w.url, "/assets/%2e%2e/%2e%2e/spec.json")).status, 400);
  } finally {
    await w.close();
  }
});

test("with a token, every request needs it; ?token= sets a cookie", async () => {
  const t = await testServer({ runsDir: s.runsDir, token: "s3cret-token" });
  try {
    assert.equal((await rawRequest(t.url, "/api/runs")).status, 401);
    assert.equal((await rawRequest(t.url, "/api/runs", { Authorization: "Bearer wrong" })).status, 401);
    assert.equal((await rawRequest(t.url, "/api/runs", { Authorization: "Bearer s3cret-token" })).status, 200);
    const viaQuery = await rawRequest(t.url, "/api/health?token=s3cret-token");
    assert.equal(viaQuery.status, 200);
    assert.match(viaQuery.headers.get("set-cookie") ?? "", /whet_token=s3cret-token; HttpOnly; SameSite=Strict/);
    assert.equal((await rawRequest(t.url, "/api/runs", { Cookie: "whet_token=s3cret-token" })).status, 200);
    // A token server may be reached by any host name.
    assert.equal((await rawRequest(t.url, "/api/runs", { Host: "gpu-box:8080", Authorization: "Bearer s3cret-token" })).status, 200);
  } finally {
    await t.close();
  }
});

test("an internal error reaches the browser without its stack", () => {
  let status = 0;
  let body = "";
  const res = {
    headersSent: false,
    writeHead(s: number) {
      status = s;
    },
    end(b: string) {
      body = b;
    },
  };
  const write = process.stderr.write;
  process.stderr.write = () => true;
  try {
    sendError(res as any, new Error("boom at /secret/path"));
  } finally {
    process.stderr.write = write;
  }
  assert.equal(status, 500);
  assert.deepEqual(JSON.parse(body).error.code, "INTERNAL");
  assert.doesNotMatch(body, /boom|secret|\bat\b/);
});

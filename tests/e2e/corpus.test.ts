// Every input in tests/corpus/ is refused before launch (or, for the few only the worker can
// see, when it starts) with the expected message: the file, the line or key, the fix; never a
// stack trace; no run folder for what fails before launch, and nothing half written in the
// shard cache that a later run would trust.
// Dry runs go through the CLI's own entry point in this process, which keeps 60 cases fast.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CASES } from "../corpus/cases.ts";
import { tempDir, whet } from "./helpers.ts";
import { main } from "../../src/cli/main.ts";
import { listCheckpoints } from "../../src/runs/rundir.ts";

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `whet ARGS` in this process, its output captured. The test runner speaks to its parent in
 *  binary chunks on the same stdout; those pass through, the CLI's text is kept. */
async function inProcess(args: string[], env: Record<string, string>): Promise<Ran> {
  const saved = { out: process.stdout.write, err: process.stderr.write, env: { ...process.env } };
  let stdout = "";
  let stderr = "";
  const passOn = saved.out.bind(process.stdout) as (chunk: Uint8Array) => boolean;
  process.stdout.write = ((chunk: string | Uint8Array) => (typeof chunk === "string" ? ((stdout += chunk), true) : passOn(chunk))) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  Object.assign(process.env, env);
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    for (const k of Object.keys(env)) if (saved.env[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved.env);
  }
}

test("the corpus holds at least 50 malformed inputs", () => {
  assert.ok(CASES.length >= 50, `${CASES.length} cases`);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, "case names are unique");
});

for (const c of CASES) {
  test(`bad input: ${c.name}`, { timeout: c.real ? 180_000 : 30_000 }, async () => {
    const dir = tempDir("whet-corpus-");
    const cache = join(dir, "cache");
    const hub = join(dir, "hub");
    mkdirSync(hub);
    const env = { WHET_CACHE_DIR: cache, HF_HUB_CACHE: hub, HF_HUB_OFFLINE: "1" };
    const args = ["train", ...c.setup(dir), "--runs-dir", join(dir, "runs")];
    const r = c.real ? await whet(args, { env }) : await inProcess([...args, "--dry-run"], env);
    assert.notEqual(r.code, 0, `accepted:\n${r.stdout.slice(0, 500)}`);
    assert.notEqual(r.code, 70, `internal error:\n${r.stderr}`);
    assert.match(r.stderr, c.expect, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at .*:\d+:\d+\)?\n|internal error|Traceback/, "a stack trace was shown");
    if (!c.real) {
      assert.match(r.stderr, /^error: /);
      assert.ok(!existsSync(join(dir, "runs")), "a run directory was created");
    }
    for (const runs of [join(dir, "runs")]) {
      if (!existsSync(runs)) continue;
      for (const id of readdirSync(runs)) assert.deepEqual(listCheckpoints(join(runs, id)), [], "a failed start left a checkpoint");
    }
    // A shard is written under a temporary name and renamed when complete: whatever a failed
    // start leaves must be complete (and then correct to reuse), never half written.
    const shards = join(cache, "shards");
    const partial = existsSync(shards) ? readdirSync(shards).filter((n) => !existsSync(join(shards, n, "meta.json"))) : [];
    assert.deepEqual(partial, [], "a partial shard was left in the cache");
  });
}

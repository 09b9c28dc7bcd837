// Bad input never reaches the workers: a few cases of the corpus (tests/corpus/cases.ts, run in
// process by corpus.test.ts) go through the real command, without --dry-run, to show the same:
// exit code 2, one clear line naming the file, line or key, no stack trace, no run directory
// and nothing in the shard cache that a later run would trust.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir, whet } from "./helpers.ts";
import { CASES } from "../corpus/cases.ts";

const THROUGH_THE_CLI = ["a malformed JSON line", "an unknown key close to a known one", "a model folder that does not exist"];

for (const name of THROUGH_THE_CLI) {
  const c = CASES.find((x) => x.name === name);
  test(`bad input through the CLI: ${name}`, { timeout: 120_000 }, async () => {
    assert.ok(c, `no corpus case named "${name}"`);
    const dir = tempDir("whet-bad-");
    const cache = join(dir, "cache");
    const r = await whet(["train", ...c.setup(dir), "--runs-dir", join(dir, "runs")], { env: { WHET_CACHE_DIR: cache, HF_HUB_OFFLINE: "1" } });
    assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, c.expect);
    assert.match(r.stderr, /^error: /);
    assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)|internal error|Traceback/);
    assert.ok(!existsSync(join(dir, "runs")), "a run directory was created");
    const shards = join(cache, "shards");
    assert.deepEqual(existsSync(shards) ? readdirSync(shards) : [], [], "something was left in the shard cache");
  });
}

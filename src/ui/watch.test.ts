// `whet watch`: the terminal view of a run started elsewhere (here: by the dashboard's launcher).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { watchCommand } from "../cli/commands/watch.ts";
import { fakeLauncher, fixtureRuns, DONE, FAILED, STOPPED, TRUNCATED } from "./testdata/helpers.ts";

async function watch(args: string[]): Promise<{ code: number; text: string }> {
  let text = "";
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => ((text += s), true)) as typeof process.stderr.write;
  try {
    const code = await watchCommand.run(args);
    return { code, text };
  } finally {
    process.stderr.write = write;
  }
}

const runs = fixtureRuns();

test("a finished run is replayed and the exit code says how it ended", async () => {
  const done = await watch([join(runs, DONE)]);
  assert.equal(done.code, 0);
  assert.match(done.text, /step 10\/10 \| loss 0\.9\d+/);
  assert.match(done.text, /checkpoint: step 5 saved/);
  assert.match(done.text, /done: 10 steps/);
  const failed = await watch([join(runs, FAILED)]);
  assert.equal(failed.code, 1);
  assert.match(failed.text, /error \(rank 1, OOM\)/);
  assert.equal((await watch([join(runs, STOPPED)])).code, 130);
  const truncated = await watch([join(runs, TRUNCATED)]);
  assert.match(truncated.text, /unreadable event line skipped/);
});

test("without RUN_DIR it watches the newest run; a non-run is a clear error", async () => {
  const r = await watch(["--runs-dir", runs]);
  assert.match(r.text, new RegExp(`watching .*${STOPPED}`));
  await assert.rejects(watchCommand.run([join(runs, "not-a-run")]), /is not a run directory/);
});

test("a live run is followed until its done event", async () => {
  const launcher = fakeLauncher(runs, { FAKE_WHET_STEPS: "15", FAKE_WHET_STEP_MS: "60" });
  const { dir } = launcher.reserve("watched");
  launcher.start(dir, "max_steps: 15\n");
  const r = await watch([dir]);
  assert.equal(r.code, 0);
  assert.match(r.text, /step 15\/15/);
  assert.match(r.text, /step 3\/15/, "the steps were seen as they came");
});

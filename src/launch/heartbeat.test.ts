import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StepClock, behind, findStall, median, readBeats, stallTimeoutS, type Beat } from "./heartbeat.ts";

const policy = { factor: 10, floorS: 5, slowPhaseS: 900 };
const beat = (rank: number, step: number | null, phase: string, progress_time: number, extra: Partial<Beat> = {}): Beat => ({
  rank, pid: 100 + rank, host: "h", step, phase, time: 1000, progress_time, exit_code: null, ...extra,
});

test("the timeout is a multiple of the median step, with a floor, and long where steps do not count", () => {
  assert.equal(stallTimeoutS(policy, 2, "forward"), 20);
  assert.equal(stallTimeoutS(policy, 0.1, "backward"), 5);
  assert.equal(stallTimeoutS(policy, null, "forward"), 900);
  for (const phase of ["setup", "checkpoint", "export"]) assert.equal(stallTimeoutS(policy, 2, phase), 900);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([]), null);
});

test("a rank without progress past the timeout is a stall, naming the rank that is behind", () => {
  const beats = [beat(0, 5, "backward", 990), beat(1, 5, "forward", 985), beat(2, 6, "exited", 900)];
  assert.equal(findStall(beats, 989, 0.2, policy), null);
  const s = findStall(beats, 991, 0.2, policy)!;
  assert.equal(s.rank.rank, 1);
  assert.equal(s.together, false);
  assert.deepEqual(s.ranks.map((b) => b.rank), [0, 1]); // the exited rank is not waited for
  assert.equal(Math.round(s.stuckS), 6);
  const all = findStall([beat(0, 5, "optimizer", 900), beat(1, 5, "optimizer", 900)], 1000, 1, policy)!;
  assert.equal(all.together, true);
  assert.equal(behind([beat(0, null, "setup", 0), beat(1, 1, "data", 0)])!.rank, 0);
});

test("step times come from beats moving from step to step", () => {
  const c = new StepClock();
  c.observe(beat(0, 1, "data", 10));
  c.observe(beat(0, 1, "forward", 10.2));
  c.observe(beat(0, 3, "data", 11));
  c.observe(beat(0, 4, "data", 11.5));
  assert.deepEqual(c.samples, [0.5, 0.5]);
  c.add(2);
  assert.equal(c.median(), 0.5);
});

test("readBeats reads rank-K.json files and skips the half-written", () => {
  const dir = mkdtempSync(join(tmpdir(), "whet-beats-"));
  writeFileSync(join(dir, "rank-1.json"), JSON.stringify(beat(1, 2, "forward", 5)));
  writeFileSync(join(dir, "rank-0.json"), JSON.stringify(beat(0, 2, "backward", 5)));
  writeFileSync(join(dir, "rank-2.json"), "{\"rank\": 2, ");
  writeFileSync(join(dir, "rank-3.json.tmp"), "{}");
  assert.deepEqual(readBeats(dir).map((b) => b.rank), [0, 1]);
  assert.deepEqual(readBeats(join(dir, "none")), []);
});

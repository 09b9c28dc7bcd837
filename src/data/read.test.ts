import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { WhetError } from "../errors.ts";
import { elementStartLines, readRecords } from "./read.ts";
import { LF_DIR, writeTree } from "./fixtures/helpers.ts";

function whetError(fn: () => unknown): WhetError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof WhetError, `expected a WhetError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected an error");
}

test("a malformed JSONL line names the file and line", () => {
  const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ text: `t${i}` }));
  lines[16] = '{"text": "oops",}';
  const dir = writeTree({ "data.jsonl": lines.join("\n") + "\n" });
  const e = whetError(() => readRecords(join(dir, "data.jsonl")));
  assert.equal(e.code, "DATASET_INVALID");
  assert.match(e.problems[0]!.where!, /data\.jsonl:17$/);
  assert.match(e.problems[0]!.message, /^is not valid JSON \(.+ at column \d+\)\. Fix or remove the line\.$/);
});

test("a JSON array syntax error gives line and column", () => {
  const dir = writeTree({ "a.json": '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c" "output": "d"}\n]\n' });
  const e = whetError(() => readRecords(join(dir, "a.json")));
  assert.match(e.problems[0]!.where!, /a\.json:3$/);
  assert.match(e.problems[0]!.message, /^is not valid JSON at column 23 \(.+\)\. Fix the syntax there\.$/);
});

test("empty and missing files", () => {
  const dir = writeTree({ "e.json": "[]\n", "e.jsonl": "\n\n" });
  for (const f of ["e.json", "e.jsonl"]) {
    const e = whetError(() => readRecords(join(dir, f)));
    assert.equal(e.code, "DATASET_EMPTY");
    assert.match(e.message, new RegExp(`${f}: has no records\\. Add records`));
  }
  const m = whetError(() => readRecords(join(dir, "nope.json")));
  assert.equal(m.code, "FILE_NOT_FOUND");
  assert.match(m.message, /nope\.json: does not exist\. Check the path/);
});

test("record lines of a JSON array are where each record starts", () => {
  const text = '[{"a": "x,{[\\"]"},\n\n  {"b": [1,\n2]}, 3,\n "s"\n]';
  assert.deepEqual(elementStartLines(text), [1, 3, 4, 5]);
  const recs = readRecords(join(LF_DIR, "alpaca_en_demo.json"));
  assert.equal(recs.length, 999);
  const lines = readFileSync(join(LF_DIR, "alpaca_en_demo.json"), "utf8").split("\n");
  for (const r of [recs[0]!, recs[500]!, recs[998]!]) assert.equal(lines[r.loc.line - 1]!.trim(), "{");
  assert.equal(recs[1]!.loc.line, 7);
});

// docs/memory.md's tables are generated; this fails when the planner changed and they were not
// regenerated (node --import tsx src/plan/table.ts --write).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { DOC_PATH, renderTables, spliceTables } from "./table.ts";

test("docs/memory.md carries the current generated tables", () => {
  const doc = readFileSync(DOC_PATH, "utf8");
  assert.equal(doc, spliceTables(doc, renderTables()));
});

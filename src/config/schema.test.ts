// The committed JSON Schemas in schema/ must equal a fresh generation (`npm run gen:schemas`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { generatedSchemas } from "../spec/generated.ts";
import { configJsonSchema } from "./json-schema.ts";
import { RunConfigSchema } from "./schema.ts";

const SCHEMA_DIR = new URL("../../schema/", import.meta.url);

test("schema/ holds exactly the generated schemas, byte for byte", () => {
  const fresh = generatedSchemas();
  assert.deepEqual(Object.keys(fresh).sort(), ["config.schema.json", "events.schema.json", "runspec.schema.json"]);
  assert.deepEqual(readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".json")).sort(), Object.keys(fresh).sort());
  for (const [file, text] of Object.entries(fresh)) {
    assert.equal(readFileSync(new URL(file, SCHEMA_DIR), "utf8"), text, `schema/${file} is stale: run npm run gen:schemas`);
  }
});

test("every config key has a description; keys with defaults are optional for editors", () => {
  const json = configJsonSchema();
  for (const key of Object.keys(RunConfigSchema.shape)) {
    assert.ok(json.properties[key]?.description, `${key} has no description`);
  }
  assert.deepEqual(json.required, ["model_name_or_path", "dataset"]);
  assert.equal(json.additionalProperties, false);
  assert.equal(json.properties.learning_rate?.default, 5e-5);
  assert.equal(json.properties.report_to?.default, "none");
});

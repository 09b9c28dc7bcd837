import { test } from "node:test";
import assert from "node:assert/strict";
import { configKeyHelp, configKeyMarkdown, configKeys } from "./help.ts";
import { RunConfigSchema } from "./schema.ts";

test("the key reference lists every key once with type and default", () => {
  const keys = configKeys();
  assert.deepEqual(keys.map((k) => k.key).sort(), Object.keys(RunConfigSchema.shape).sort());
  const lr = keys.find((k) => k.key === "learning_rate");
  assert.deepEqual(lr, { section: "train", key: "learning_rate", type: "float", default: "5e-5", description: "Peak learning rate of AdamW." });
  assert.equal(keys.find((k) => k.key === "model_name_or_path")?.default, "required");
  assert.equal(keys.find((k) => k.key === "nproc")?.type, "int|auto");
});

test("help text and markdown carry every key", () => {
  const help = configKeyHelp();
  const md = configKeyMarkdown();
  for (const { key } of configKeys()) {
    assert.match(help, new RegExp(`^    ${key} `, "m"));
    assert.ok(md.includes(`\`${key}\``));
  }
  assert.match(help, /accepted with a warning \(not supported yet\): fsdp, fsdp_config,/);
});

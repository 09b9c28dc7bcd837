import { test, after } from "node:test";
import assert from "node:assert/strict";
import { call, testServer } from "./testdata/helpers.ts";
import { absolutize } from "./draft.ts";
import { parseInspect } from "./inspect.ts";

const s = await testServer();
after(() => s.close());
const template = (await call(s.url, "/api/config/template")).json;

test("GET /api/config/schema is the config's JSON Schema", async () => {
  const r = await call(s.url, "/api/config/schema");
  assert.equal(r.status, 200);
  assert.equal(r.json.properties.learning_rate.type, "number");
  assert.match(r.json.properties.learning_rate.description, /learning rate/i);
});

test("GET /api/config/template is the quickstart with absolute paths", () => {
  assert.equal(template.name, "quickstart");
  assert.match(template.fields.model_name_or_path, /^\/.*examples\/quickstart\/model$/);
  assert.match(template.fields.dataset, /^\/.*examples\/quickstart\/data\.jsonl$/);
});

test("POST /api/config/validate returns the loader's problems, keyed by field", async () => {
  const bad = await call(s.url, "/api/config/validate", { json: { fields: { ...template.fields, learning_rate: -1, lerning_rate: 3 } } });
  assert.equal(bad.status, 200);
  assert.equal(bad.json.ok, false);
  const byKey = Object.fromEntries(bad.json.problems.map((p: any) => [p.key, p.message]));
  assert.match(byKey.learning_rate, /greater than 0/);
  assert.match(byKey.lerning_rate, /Did you mean learning_rate/);
  const good = await call(s.url, "/api/config/validate", { json: { fields: template.fields } });
  assert.equal(good.json.ok, true);
  assert.match(good.json.yaml, /learning_rate: 0\.003/);
});

test("POST /api/config/validate accepts YAML and reports its syntax errors by line", async () => {
  const ok = await call(s.url, "/api/config/validate", { json: { yaml: `model_name_or_path: ${template.fields.model_name_or_path}\ndataset: ${template.fields.dataset}\n` } });
  assert.equal(ok.json.ok, true);
  const broken = await call(s.url, "/api/config/validate", { json: { yaml: "a: [1,\nb: c" } });
  assert.equal(broken.json.ok, false);
  assert.match(broken.json.problems[0].where, /config\.yaml:\d/);
  assert.equal((await call(s.url, "/api/config/validate", { json: { nothing: 1 } })).status, 400);
});

test("POST /api/config/inspect renders a sample with its loss mask", async () => {
  const r = await call(s.url, "/api/config/inspect", { json: { fields: template.fields } });
  assert.equal(r.status, 200);
  assert.ok(r.json.segments.some((x: any) => x.trained));
  assert.ok(r.json.segments.some((x: any) => !x.trained));
  assert.match(r.json.summary, /^tokens: \d+, trained: \d+/);
  const invalid = await call(s.url, "/api/config/inspect", { json: { fields: { ...template.fields, cutoff_len: "x" } } });
  assert.equal(invalid.status, 422);
  assert.equal(invalid.json.error.details.problems[0].key, "cutoff_len");
});

test("POST /api/config/plan predicts memory per GPU with the planner", async () => {
  const r = await call(s.url, "/api/config/plan", { json: { fields: { ...template.fields, device: "cpu" } } });
  assert.equal(r.status, 200);
  assert.equal(typeof r.json.per_gpu.peak_gib, "number");
  assert.ok("activations_gib" in r.json.per_gpu);
});

test("absolutize keeps hub ids and makes local paths absolute", () => {
  const out = absolutize({ model_name_or_path: "Qwen/Qwen3-0.6B", dataset: "alpaca_en_demo", output_dir: "runs/x" }, "/base");
  assert.equal(out.model_name_or_path, "Qwen/Qwen3-0.6B");
  assert.equal(out.dataset, "alpaca_en_demo");
  assert.equal(out.dataset_dir, "/base/data");
  assert.equal(out.output_dir, "/base/runs/x");
});

test("parseInspect splits coloured text into trained and untrained pieces", () => {
  const text = "f.jsonl:1\n--- text (trained parts in green) ---\nuser: hi\n\x1b[32manswer\x1b[0m\n--- tokens ---\ntokens: 4, trained: 1 (25.0%), not trained: 3";
  const r = parseInspect(text);
  assert.deepEqual(r.segments, [{ text: "user: hi\n", trained: false }, { text: "answer", trained: true }]);
  assert.equal(r.title, "f.jsonl:1");
});

// Loss masks as `whet data inspect` shows them, with the real SmolLM2 tokenizer: exactly each
// assistant answer and the <|im_end|> that closes it carry loss; the default or given system
// prompt, the user turns, the role headers and the newline after each turn do not. (Padding is
// added by the worker and never trained: worker/tests/test_data.py, and test_parity.py compares
// the padded batches with Hugging Face Trainer's.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED, TOKENIZER, tempDir, whet } from "../e2e/helpers.ts";

const SMOL_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";

interface Shown {
  text: string;
  trainedSpans: string[];
  untrained: string;
  rows: { trained: boolean; piece: string }[];
}

/** Parses `whet data inspect --no-color`: the [[trained]] text, and the token table. */
function parseInspect(out: string): Shown {
  const text = out.split("--- text (trained parts in [[ ]]) ---\n")[1]!.split("\n--- tokens ---\n")[0]!;
  const table = out.split("\n--- tokens ---\n")[1]!.split("\n").filter((l) => /^\s*\d+ [+ ] +\d+ {2}"/.test(l));
  const rows = table.map((l) => {
    const m = /^\s*\d+ ([+ ]) +\d+ {2}(".*")$/.exec(l)!;
    return { trained: m[1] === "+", piece: JSON.parse(m[2]!) as string };
  });
  const trainedSpans = [...text.matchAll(/\[\[([\s\S]*?)\]\]/g)].map((m) => m[1]!);
  return { text: text.replace(/\[\[|\]\]/g, ""), trainedSpans, untrained: text.replace(/\[\[[\s\S]*?\]\]/g, "\u0000"), rows };
}

async function inspect(dir: string, dataset: string, datasetDir: string, index: number): Promise<Shown> {
  const cfg = join(dir, `${dataset}.yaml`);
  writeFileSync(cfg, [`model_name_or_path: ${TOKENIZER}`, `dataset: ${dataset}`, `dataset_dir: ${datasetDir}`, "cutoff_len: 1024"].join("\n") + "\n");
  const r = await whet(["data", "inspect", cfg, "--index", String(index), "--no-color"]);
  assert.equal(r.code, 0, r.stderr);
  const shown = parseInspect(r.stdout);
  // The table and the text agree: the "+" tokens, in order, are exactly the bracketed text.
  assert.equal(shown.rows.filter((x) => x.trained).map((x) => x.piece).join(""), shown.trainedSpans.join(""));
  assert.equal(shown.rows.map((x) => x.piece).join(""), shown.text);
  assert.equal(shown.rows[0]!.trained, false, "a document's first token is never a target");
  return shown;
}

test("alpaca: only the output and its <|im_end|> carry loss", async () => {
  const dir = tempDir("whet-masks-");
  const records = JSON.parse(readFileSync(join(SHARED, "llamafactory", "alpaca_en_demo.json"), "utf8")) as { instruction: string; input: string; output: string }[];
  for (const index of [0, 1]) {
    const r = records[index]!;
    const shown = await inspect(dir, "alpaca_en_demo", join(SHARED, "llamafactory"), index);
    const user = r.input ? `${r.instruction}\n${r.input}` : r.instruction;
    assert.equal(shown.text, `${SMOL_SYSTEM}<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n${r.output}<|im_end|>\n`);
    assert.deepEqual(shown.trainedSpans, [`${r.output}<|im_end|>`]);
    assert.equal(shown.untrained, `${SMOL_SYSTEM}<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n\u0000\n`);
    // Of the three <|im_end|> tokens only the answer's is trained.
    assert.deepEqual(shown.rows.filter((x) => x.piece === "<|im_end|>").map((x) => x.trained), [false, false, true]);
  }
});

test("multi-turn sharegpt with a system prompt: each answer and its end token, nothing else", async () => {
  const dir = tempDir("whet-masks-");
  const data = join(dir, "data");
  mkdirSync(data);
  const conversation = [
    { from: "system", value: "Answer in one word." },
    { from: "human", value: "Capital of France?" },
    { from: "gpt", value: "Paris." },
    { from: "human", value: "And of Italy?" },
    { from: "gpt", value: "Rome." },
    { from: "human", value: "Thanks" },
    { from: "gpt", value: "Welcome!" },
  ];
  writeFileSync(join(data, "chat.json"), JSON.stringify([{ conversations: conversation }]));
  writeFileSync(join(data, "dataset_info.json"), JSON.stringify({ chat: { file_name: "chat.json", formatting: "sharegpt", columns: { messages: "conversations" } } }));
  const shown = await inspect(dir, "chat", data, 0);
  const turn = (role: string, text: string) => `<|im_start|>${role}\n${text}<|im_end|>\n`;
  assert.equal(
    shown.text,
    turn("system", "Answer in one word.") + turn("user", "Capital of France?") + turn("assistant", "Paris.") + turn("user", "And of Italy?") + turn("assistant", "Rome.") + turn("user", "Thanks") + turn("assistant", "Welcome!"),
  );
  assert.deepEqual(shown.trainedSpans, ["Paris.<|im_end|>", "Rome.<|im_end|>", "Welcome!<|im_end|>"]);
  for (const prompt of ["Answer in one word.", "Capital of France?", "And of Italy?", "Thanks", "<|im_start|>assistant\n"]) {
    assert.ok(shown.untrained.includes(prompt), `${JSON.stringify(prompt)} is not in the untrained text`);
  }
  assert.ok(!shown.text.includes("SmolLM"), "a given system prompt replaces the template's default");
  assert.deepEqual(
    shown.rows.filter((x) => x.piece === "<|im_end|>").map((x) => x.trained),
    [false, false, true, false, true, false, true],
  );
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { WhetError } from "../errors.ts";
import { toSamples, type FormatOptions } from "./formats.ts";
import type { RawRecord } from "./read.ts";
import type { ChatSample } from "./types.ts";

const rec = (value: unknown, line = 1): RawRecord => ({ value, loc: { file: "d.json", line } });
const alpaca: FormatOptions = { formatting: "alpaca", columns: {}, stage: "sft" };
const sharegpt: FormatOptions = { formatting: "sharegpt", columns: {}, stage: "sft" };

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof WhetError);
    return e.problems.map((p) => `${p.where}: ${p.message}`);
  }
  assert.fail("expected an error");
}

test("alpaca: instruction + input, history and system become a conversation", () => {
  const [s] = toSamples([rec({ instruction: "Do", input: "this", output: "Done", system: "Sys", history: [["q", "a"]] })], alpaca) as ChatSample[];
  assert.deepEqual(s!.messages, [
    { role: "system", content: "Sys" },
    { role: "user", content: "q" },
    { role: "assistant", content: "a" },
    { role: "user", content: "Do\nthis" },
    { role: "assistant", content: "Done" },
  ]);
});

test("alpaca: missing output or instruction names the line", () => {
  assert.deepEqual(problems(() => toSamples([rec({ instruction: "x", output: "y" }), rec({ instruction: "Do" }, 7)], alpaca)), [
    'd.json:7: has no assistant turn ("output" is missing or not a string). Add the response or remove the record.',
  ]);
  assert.match(problems(() => toSamples([rec({ input: "x", output: "y" }, 3)], alpaca))[0]!, /^d\.json:3: has no "instruction" column .*columns\.prompt/);
});

test("sharegpt: from/value with system, and OpenAI messages detected by shape", () => {
  const [a] = toSamples([rec({ conversations: [{ from: "system", value: "S" }, { from: "human", value: "U" }, { from: "gpt", value: "A" }] })], sharegpt) as ChatSample[];
  assert.deepEqual(a!.messages.map((m) => m.role), ["system", "user", "assistant"]);
  const [b] = toSamples([rec({ messages: [{ role: "user", content: "U" }, { role: "assistant", content: [{ type: "text", text: "A" }] }] })], { ...sharegpt, columns: { messages: "messages" } }) as ChatSample[];
  assert.deepEqual(b!.messages, [{ role: "user", content: "U" }, { role: "assistant", content: "A" }]);
});

test("sharegpt: bad roles, alternation and missing assistant turns are errors with file:line", () => {
  const bad = [
    rec({ conversations: [{ from: "human", value: "a" }, { from: "human", value: "b" }, { from: "gpt", value: "c" }] }, 2),
    rec({ conversations: [{ from: "human", value: "a" }, { from: "bot", value: "b" }] }, 9),
    rec({ conversations: [{ from: "human", value: "a" }] }, 14),
    rec({ conversations: [{ from: "human", value: "a" }, { from: "gpt", value: "b" }, { from: "human", value: "c" }] }, 20),
    rec({ nothing: 1 }, 30),
  ];
  assert.deepEqual(problems(() => toSamples(bad, sharegpt)), [
    "d.json:2: message 2 is a user turn after a user turn. Turns must alternate user (or observation) and assistant (or function); merge or remove the extra turn.",
    'd.json:9: message 2 has the role "bot" (key "from"), which is not known. Use one of human, gpt, observation, function_call, system, or set tags in dataset_info.json.',
    "d.json:14: has no assistant turn. Add an assistant message or remove the record.",
    "d.json:20: ends with a user turn that has no answer. Add the assistant answer or remove the last turn.",
    'd.json:30: has no "conversations" list. Add it, or map the column with columns.messages in dataset_info.json.',
  ]);
});

test("pt reads the text column; placeholders are filled", () => {
  const [t] = toSamples([rec({ content: "hello {{name}}" })], { formatting: "alpaca", columns: { prompt: "content" }, stage: "pt", placeholders: { name: "Whet" } });
  assert.deepEqual(t, { kind: "text", text: "hello Whet", loc: { file: "d.json", line: 1 } });
  assert.match(problems(() => toSamples([rec({ body: "x" }, 4)], { formatting: "alpaca", columns: {}, stage: "pt" }))[0]!, /^d\.json:4: has no "text" column/);
});

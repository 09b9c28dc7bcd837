// `whet chat RUN_DIR`: talk to a run's exported model with the chat template it trained with.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parse, intOption } from "../args.ts";
import { chatFormat, generationPrompt, runTemplateName, type ChatFormat } from "../../chat/prompt.ts";
import { ChatWorker } from "../../chat/worker.ts";
import { loadTokenizer } from "../../data/tokenize.ts";
import type { Message } from "../../data/types.ts";
import { findPython } from "../../launch/python.ts";
import { listCheckpoints, readJson } from "../../runs/rundir.ts";
import { WhetError } from "../../errors.ts";
import type { Tokenizer } from "tokenizers";
import type { Command } from "./index.ts";

const OPTIONS = {
  prompt: { type: "string" },
  system: { type: "string" },
  "max-new-tokens": { type: "string" },
  temperature: { type: "string" },
  base: { type: "boolean" },
  device: { type: "string" },
  python: { type: "string" },
} as const;

const HELP = `Usage: whet chat RUN_DIR [options]

Loads RUN_DIR/export and chats with it, rendering each turn with the chat template the run
trained with (the tokenizer's own chat_template unless the config named another). Answers are
greedy, streamed as they are generated, and end at the end-of-turn token. Without --prompt:
one turn per line of input (/reset forgets the conversation, /exit or end of input quits).

Options:
  --prompt TEXT         ask one question, print the answer, exit
  --system TEXT         a system message before the conversation
  --max-new-tokens N    longest answer in tokens (default 256)
  --temperature T       sample at temperature T instead of greedy (default 0: greedy)
  --base                chat with the run's base model instead of its export (same template)
  --device cpu|cuda     where the model runs (default: cuda when available)
  --python PATH         the Python that runs the model (default: $WHET_PYTHON, then ./.venv)`;

interface RunSpecView {
  model: { path: string; tokenizer_path: string; random_init: boolean };
  data?: { shard_dir?: string };
  export: { dir: string };
}

interface Target {
  model: string;
  baseModel?: string;
  tokenizerDir: string;
}

export const chatCommand: Command = {
  name: "chat",
  summary: "chat with a run's exported model (one --prompt, or a conversation on stdin)",
  help: () => HELP,
  async run(argv) {
    const { values, positionals } = parse("chat", argv, OPTIONS);
    if (positionals.length !== 1) throw new WhetError("USAGE", "expected one RUN_DIR, for example: whet chat runs/<id> --prompt \"Hello\".");
    const device = values.device ?? "auto";
    if (device !== "auto" && device !== "cpu" && device !== "cuda") {
      throw new WhetError("USAGE", [{ where: "--device", message: `must be cpu or cuda, got "${device}".` }]);
    }
    const temperature = values.temperature === undefined ? 0 : Number(values.temperature);
    if (!Number.isFinite(temperature) || temperature < 0) {
      throw new WhetError("USAGE", [{ where: "--temperature", message: `expected a number of at least 0, got "${values.temperature}".` }]);
    }
    const maxNewTokens = intOption(values["max-new-tokens"], "max-new-tokens") ?? 256;
    const runDir = resolve(positionals[0]!);
    const spec = readRun(runDir);
    const target = values.base ? baseTarget(runDir, spec) : exportTarget(runDir, spec);
    const { info, tok } = loadTokenizer(target.tokenizerDir);
    const format = chatFormat(runTemplateName(runDir, spec.data?.shard_dir), info, tok, target.model);
    const python = findPython(values.python);

    const worker = new ChatWorker({ python, model: target.model, ...(target.baseModel ? { baseModel: target.baseModel } : {}), device });
    const stop = () => {
      worker.kill();
      process.exit(130);
    };
    process.once("SIGINT", stop);
    try {
      const ready = await worker.ready();
      process.stderr.write(`model: ${target.model}${target.baseModel ? ` on ${target.baseModel}` : ""} (${ready.device}, ${ready.dtype}), template ${format.template?.name ?? "none"}\n`);
      const turn = async (history: Message[]) => answer(worker, tok, format, history, { maxNewTokens, temperature });
      const system: Message[] = values.system !== undefined ? [{ role: "system", content: values.system }] : [];
      if (values.prompt !== undefined) {
        await turn([...system, { role: "user", content: values.prompt }]);
      } else {
        await repl(system, turn);
      }
      await worker.close();
      return 0;
    } finally {
      process.off("SIGINT", stop);
      worker.kill();
    }
  },
};

function readRun(runDir: string): RunSpecView {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) {
    throw new WhetError("RUN_NOT_FOUND", [{ where: runDir, message: "is not a directory. Name a run directory, for example runs/<id>." }]);
  }
  const specPath = join(runDir, "spec.json");
  if (!existsSync(specPath)) throw new WhetError("RUN_NOT_FOUND", [{ where: runDir, message: "holds no spec.json, so it is not a whet run directory." }]);
  try {
    return readJson<RunSpecView>(specPath);
  } catch (e) {
    throw new WhetError("RUN_NOT_FOUND", [{ where: specPath, message: `cannot be read (${(e as Error).message}).` }]);
  }
}

function exportTarget(runDir: string, spec: RunSpecView): Target {
  // The run directory may have been moved since training: its own export/ first.
  const dir = [join(runDir, "export"), spec.export.dir].find((d) => existsSync(d) && statSync(d).isDirectory());
  if (!dir) {
    const resume = listCheckpoints(runDir).length > 0 ? `Finish it with 'whet train --resume ${runDir}', or chat` : "Chat";
    throw new WhetError("RUN_NOT_FOUND", [
      { where: runDir, message: `has no export: the run has not finished, or failed before exporting. ${resume} with its base model: whet chat ${runDir} --base.` },
    ]);
  }
  const tokenizerDir = existsSync(join(dir, "tokenizer.json")) ? dir : spec.model.tokenizer_path;
  if (!existsSync(join(dir, "adapter_config.json"))) return { model: dir, tokenizerDir };
  if (spec.model.random_init) {
    throw new WhetError("MODEL_INVALID", [
      { where: dir, message: "is a LoRA adapter on a base model built from random weights (random_init), which was never saved. Export merged weights (export_merge_lora: true) to chat with such a run." },
    ]);
  }
  return { model: dir, baseModel: spec.model.path, tokenizerDir };
}

function baseTarget(runDir: string, spec: RunSpecView): Target {
  if (spec.model.random_init) {
    throw new WhetError("MODEL_INVALID", [{ where: runDir, message: "started from random weights (random_init), so there is no base model to chat with. Leave out --base." }]);
  }
  return { model: spec.model.path, tokenizerDir: spec.model.tokenizer_path };
}

/** Generates one answer, streaming it to stdout; appends it to history. */
async function answer(
  worker: ChatWorker,
  tok: Tokenizer,
  format: ChatFormat,
  history: Message[],
  opts: { maxNewTokens: number; temperature: number },
): Promise<void> {
  const prompt = generationPrompt(format, history);
  const inputIds = (await tok.encode(prompt, null, { addSpecialTokens: format.template === undefined })).getIds();
  const ids: number[] = [];
  let shown = "";
  let chain = Promise.resolve();
  // Decoding the whole answer each time keeps multi-byte characters and merged pieces right; a
  // trailing U+FFFD is half a character whose other bytes are still to come.
  const flush = async (final: boolean) => {
    const visible = ids.filter((id, i) => !(i === ids.length - 1 && format.stopIds.includes(id)));
    let text = await tok.decode(visible, true);
    if (!final) text = text.replace(/\uFFFD+$/, "");
    if (text.length > shown.length && text.startsWith(shown)) {
      process.stdout.write(text.slice(shown.length));
      shown = text;
    }
  };
  const result = await worker.generate({ inputIds, maxNewTokens: opts.maxNewTokens, stopIds: format.stopIds, temperature: opts.temperature }, (id) => {
    ids.push(id);
    chain = chain.then(() => flush(false));
  });
  await chain;
  await flush(true);
  process.stdout.write("\n");
  if (result.reason === "length") process.stderr.write(`(the answer reached --max-new-tokens ${opts.maxNewTokens} before its end-of-turn token)\n`);
  history.push({ role: "assistant", content: shown.trim() });
}

async function repl(system: Message[], turn: (history: Message[]) => Promise<void>): Promise<void> {
  const tty = Boolean(process.stdin.isTTY);
  if (tty) process.stderr.write("Type a message; /reset forgets the conversation, /exit (or Ctrl-D) quits.\n");
  const rl = createInterface({ input: process.stdin, ...(tty ? { output: process.stderr, prompt: "> " } : {}), terminal: tty });
  let history: Message[] = [...system];
  if (tty) rl.prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === "/exit") break;
    if (text === "/reset") history = [...system];
    else if (text !== "") {
      history.push({ role: "user", content: text });
      await turn(history);
    }
    if (tty) rl.prompt();
  }
  rl.close();
}

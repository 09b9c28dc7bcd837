// A corpus of malformed inputs for `whet train`: configs, datasets, dataset registries, model
// and tokenizer folders, command lines. Each case builds its files in a fresh folder (our own
// text; the tokenizer is copied from ../shared/data at test time) and names the message fragment
// the user must see. tests/e2e/corpus.test.ts runs them all.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SHARED = process.env.WHET_SHARED_DATA ?? new URL("../../../shared/data", import.meta.url).pathname;
const TOKENIZER = join(SHARED, "tokenizers", "SmolLM2-135M-Instruct");

export interface Case {
  name: string;
  /** Writes the case's files into dir; returns the arguments after `whet train`. */
  setup: (dir: string) => string[];
  /** What the user must read: the file, line or key, and the fix. */
  expect: RegExp;
  /** Fails only once the worker starts (a real run, not a dry run). */
  real?: boolean;
}

const ALPACA_ROW = (i: number) => JSON.stringify({ instruction: `Say the number ${i}.`, input: "", output: `The number is ${i}.` });
const CHAT_ROW = (i: number) => JSON.stringify({ messages: [{ role: "user", content: `Count to ${i}.` }, { role: "assistant", content: `${i}.` }] });

export function tokenizerFiles(dir: string, opts: { chatTemplate?: boolean } = {}): void {
  mkdirSync(dir, { recursive: true });
  for (const f of ["tokenizer.json", "special_tokens_map.json"]) copyFileSync(join(TOKENIZER, f), join(dir, f));
  const cfg = JSON.parse(readFileSync(join(TOKENIZER, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  if (opts.chatTemplate === false) delete cfg.chat_template;
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(cfg));
}

/** A tiny Llama folder; random_init in the config makes weights unnecessary. */
export function modelFolder(dir: string, opts: { chatTemplate?: boolean; config?: string | null; tokenizer?: boolean } = {}): string {
  const m = join(dir, "model");
  mkdirSync(m, { recursive: true });
  if (opts.tokenizer !== false) tokenizerFiles(m, opts);
  const config = JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", vocab_size: 49152, hidden_size: 32, intermediate_size: 64,
    num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 512, rms_norm_eps: 1e-5,
    tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2, pad_token_id: 2,
  });
  if (opts.config !== null) writeFileSync(join(m, "config.json"), opts.config ?? config);
  return m;
}

/** A config that works, with keys replaced or added by `extra` (null removes a key). */
export function yaml(dir: string, extra: Record<string, string | number | boolean | null> = {}, body?: string): string {
  const keys: Record<string, string | number | boolean | null> = {
    model_name_or_path: join(dir, "model"), random_init: true, dataset: join(dir, "data.jsonl"), cutoff_len: 64,
    per_device_train_batch_size: 1, max_steps: 2, device: "cpu", ...extra,
  };
  const text = body ?? Object.entries(keys).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`).join("\n") + "\n";
  const file = join(dir, "run.yaml");
  writeFileSync(file, text);
  return file;
}

/** The standard case: a model folder, data.jsonl holding `data`, and run.yaml with `extra`. */
function withData(data: string, extra: Record<string, string | number | boolean | null> = {}, file = "data.jsonl") {
  return (dir: string) => {
    modelFolder(dir);
    writeFileSync(join(dir, file), data);
    return [yaml(dir, { dataset: join(dir, file), ...extra })];
  };
}

const good = Array.from({ length: 8 }, (_, i) => ALPACA_ROW(i)).join("\n") + "\n";
const configCase = (name: string, extra: Record<string, string | number | boolean | null>, expect: RegExp): Case => ({ name, setup: withData(good, extra), expect });
const rawConfig = (name: string, text: string, expect: RegExp): Case => ({
  name,
  setup: (dir) => {
    modelFolder(dir);
    writeFileSync(join(dir, "data.jsonl"), good);
    return [yaml(dir, {}, text)];
  },
  expect,
});
const dataCase = (name: string, data: string, expect: RegExp, file = "data.jsonl", extra = {}): Case => ({ name, setup: withData(data, extra, file), expect });

function registry(dir: string, info: string, files: Record<string, string> = {}): string[] {
  modelFolder(dir);
  const data = join(dir, "data");
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, "dataset_info.json"), info);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(data, name), text);
  return [yaml(dir, { dataset: "mine", dataset_dir: data })];
}

export const CASES: Case[] = [
  // --- the config file itself
  rawConfig("broken YAML: an unclosed quote", 'model_name_or_path: "./model\nlearning_rate: 1e-4\n', /run\.yaml:\d+/),
  rawConfig("broken YAML: a bad indentation", "model_name_or_path: ./model\n  dataset: data.jsonl\n", /run\.yaml:\d+/),
  rawConfig("broken YAML: a tab for indentation", "model_name_or_path: ./model\n\tdataset: data.jsonl\n", /run\.yaml:\d+/),
  rawConfig("YAML that is a list, not a mapping", "- model_name_or_path\n- dataset\n", /run\.yaml.*mapping/),
  rawConfig("YAML that is a single word", "hello\n", /run\.yaml.*mapping/),
  rawConfig("an empty config file", "", /run\.yaml.*(empty|mapping|model_name_or_path)/),
  rawConfig("a duplicated key", "model_name_or_path: ./model\nmodel_name_or_path: ./other\ndataset: data.jsonl\n", /run\.yaml:2: .*keys must be unique/),
  configCase("an unknown key close to a known one", { lerning_rate: 0.1 }, /run\.yaml:\d+ lerning_rate: .*learning_rate/),
  configCase("an unknown key unlike any other", { frobnicate_level: 3 }, /run\.yaml:\d+ frobnicate_level: .*not a known key/),
  configCase("a word where a number belongs", { per_device_train_batch_size: "eight" }, /run\.yaml:\d+ per_device_train_batch_size:/),
  configCase("a string learning rate", { learning_rate: "fast" }, /run\.yaml:\d+ learning_rate:/),
  configCase("a negative learning rate", { learning_rate: -0.001 }, /run\.yaml:\d+ learning_rate:/),
  configCase("a fractional batch size", { per_device_train_batch_size: 1.5 }, /run\.yaml:\d+ per_device_train_batch_size:/),
  configCase("a cutoff of 0", { cutoff_len: 0 }, /run\.yaml:\d+ cutoff_len:/),
  configCase("a negative cutoff", { cutoff_len: -64 }, /run\.yaml:\d+ cutoff_len:/),
  configCase("an unknown fine-tuning type", { finetuning_type: "everything" }, /run\.yaml:\d+ finetuning_type:/),
  configCase("a stage whetstone does not train", { stage: "dpo" }, /stage.*(dpo|DPO)/),
  configCase("a LoRA rank of 0", { lora_rank: 0 }, /run\.yaml:\d+ lora_rank:/),
  configCase("a LoRA dropout above 1", { lora_dropout: 1.5 }, /run\.yaml:\d+ lora_dropout:/),
  configCase("a warmup ratio above 1", { warmup_ratio: 2 }, /run\.yaml:\d+ warmup_ratio:/),
  configCase("an unknown scheduler", { lr_scheduler_type: "cosine_restarts" }, /run\.yaml:\d+ lr_scheduler_type:/),
  configCase("an unknown device", { device: "tpu" }, /run\.yaml:\d+ device:/),
  configCase("zero processes", { nproc: 0 }, /run\.yaml:\d+ nproc:/),
  configCase("a boolean written as a sentence", { bf16: "yes please" }, /run\.yaml:\d+ bf16:/),
  configCase("a missing model_name_or_path", { model_name_or_path: null }, /model_name_or_path/),
  configCase("a missing dataset", { dataset: null }, /dataset/),
  configCase("a batch larger than the data", { per_device_train_batch_size: 64 }, /per_device_train_batch_size: .*only \d+/),
  {
    name: "an override that is not a number",
    setup: (dir) => [...withData(good)(dir), "max_steps=abc"],
    expect: /<command line> max_steps:/,
  },
  {
    name: "an override with an unknown key",
    setup: (dir) => [...withData(good)(dir), "learning_rat=1e-4"],
    expect: /<command line> learning_rat: .*learning_rate/,
  },
  { name: "a config file that does not exist", setup: (dir) => [join(dir, "nope.yaml")], expect: /nope\.yaml: does not exist/ },
  { name: "a folder given as the config", setup: (dir) => [dir], expect: /is a folder, not a config file/ },
  {
    name: "an output_dir that already holds a run",
    setup: (dir) => {
      const args = withData(good, { output_dir: join(dir, "out") })(dir);
      mkdirSync(join(dir, "out"), { recursive: true });
      writeFileSync(join(dir, "out", "spec.json"), "{}");
      return args;
    },
    expect: /output_dir: .*already holds a run.*--resume/,
  },

  // --- model and tokenizer folders
  configCase("a model folder that does not exist", { model_name_or_path: "./no-such-model" }, /model_name_or_path: \.\/no-such-model does not exist \(looked in .*no-such-model\)/),
  configCase("a hub id not in the cache, offline", { model_name_or_path: "nobody-here/no-such-model-1234" }, /nobody-here\/no-such-model-1234 is not in the Hugging Face cache/),
  {
    name: "a model folder without config.json",
    setup: (dir) => {
      modelFolder(dir, { config: null });
      writeFileSync(join(dir, "data.jsonl"), good);
      return [yaml(dir)];
    },
    expect: /has no config\.json/,
  },
  {
    name: "a config.json that is not JSON",
    setup: (dir) => {
      modelFolder(dir, { config: "{ architectures: [LlamaForCausalLM" });
      writeFileSync(join(dir, "data.jsonl"), good);
      return [yaml(dir)];
    },
    expect: /config\.json: is not valid JSON/,
  },
  {
    name: "a model folder without weights",
    setup: (dir) => [...withData(good, { random_init: false })(dir)],
    expect: /has no weights \(\*\.safetensors\).*random_init: true/,
  },
  {
    name: "a model path that is a file",
    setup: (dir) => {
      writeFileSync(join(dir, "model.bin"), "not a folder");
      writeFileSync(join(dir, "data.jsonl"), good);
      return [yaml(dir, { model_name_or_path: join(dir, "model.bin") })];
    },
    expect: /is a file, not a model folder/,
  },
  {
    name: "a model folder without a tokenizer",
    setup: (dir) => {
      modelFolder(dir, { tokenizer: false });
      writeFileSync(join(dir, "data.jsonl"), good);
      return [yaml(dir)];
    },
    expect: /has no tokenizer\.json/,
  },
  {
    name: "a tokenizer.json that is not JSON",
    setup: (dir) => {
      const m = modelFolder(dir);
      writeFileSync(join(m, "tokenizer.json"), '{"version": "1.0", "model": ');
      writeFileSync(join(dir, "data.jsonl"), good);
      return [yaml(dir)];
    },
    expect: /tokenizer\.json: cannot be (read|loaded)/,
  },
  {
    name: "a tokenizer without a chat template, and no template given",
    setup: (dir) => {
      modelFolder(dir, { chatTemplate: false });
      writeFileSync(join(dir, "data.jsonl"), good);
      return [yaml(dir)];
    },
    expect: /template: .*chat_template/,
  },
  configCase("a template name that does not exist", { template: "no_such_template" }, /template: .*no_such_template/),
  {
    name: "weights that are not a safetensors file (fails when the worker loads them)",
    setup: (dir) => {
      const m = modelFolder(dir);
      writeFileSync(join(m, "model.safetensors"), "this is not a safetensors file, just our own text");
      writeFileSync(join(dir, "data.jsonl"), good);
      return [yaml(dir, { random_init: false, output_dir: join(dir, "runs", "weights") }), "--nproc", "1"];
    },
    expect: /rank 0 reported MODEL_INVALID .*model: the weights could not be loaded .*download the model again/,
    real: true,
  },

  // --- dataset files
  { name: "a dataset file that does not exist", setup: (dir) => { modelFolder(dir); return [yaml(dir, { dataset: join(dir, "nope.jsonl") })]; }, expect: /nope\.jsonl: does not exist/ },
  dataCase("a malformed JSON line", `${ALPACA_ROW(1)}\n{"instruction": "c", "output": \n`, /data\.jsonl:2: is not valid JSON/),
  dataCase("a truncated JSON array", `[\n  ${ALPACA_ROW(1)},\n  {"instruction": "a"\n`, /data\.json:\d+: is not valid JSON/, "data.json"),
  dataCase("a JSON object instead of an array or lines", '{"instruction": "a", "output": "b"', /data\.json(:\d+)?: .*(JSON|array)/, "data.json"),
  dataCase("an empty JSONL file", "", /data\.jsonl: has no records/),
  dataCase("a JSONL file of blank lines", "\n\n   \n", /data\.jsonl: has no records/),
  dataCase("an empty JSON array", "[]\n", /data\.json: has no records/, "data.json"),
  dataCase("a record that is a string", '"just a string"\n', /data\.jsonl:1: is not a JSON object/),
  dataCase("a record that is an array", "[1, 2, 3]\n", /data\.jsonl:1/),
  dataCase("a record with no known columns", '{"question": "a", "reply": "b"}\n', /data\.jsonl:1/),
  dataCase("a conversation with no assistant turn", '{"messages": [{"role": "user", "content": "hi"}]}\n', /data\.jsonl:1/),
  dataCase("a conversation with an unknown role", '{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "beep"}]}\n', /data\.jsonl:1.*robot/),
  dataCase("a conversation whose messages are not a list", '{"messages": "user: hi, assistant: hello"}\n', /data\.jsonl:1/),
  dataCase("a conversation turn without content", '{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}\n', /data\.jsonl:1/),
  dataCase("a sharegpt turn with an unknown speaker", '{"conversations": [{"from": "human", "value": "hi"}, {"from": "parrot", "value": "hi"}]}\n', /data\.jsonl:1.*parrot/),
  dataCase("an alpaca output that is a number", '{"instruction": "Add 2 and 2.", "output": 4}\n', /data\.jsonl:1.*output/),
  dataCase("a conversation that starts with the assistant", '{"messages": [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "hi"}]}\n', /data\.jsonl:1/),
  dataCase("a file type that is not supported", "<data><row>hi</row></data>\n", /data\.xml: .*\.json or \.jsonl/, "data.xml"),
  dataCase("chat rows in a pretraining run without text", Array.from({ length: 4 }, (_, i) => CHAT_ROW(i)).join("\n") + "\n", /data\.jsonl:1.*(text|pt|pretrain)/i, "data.jsonl", { stage: "pt" }),
  dataCase("every answer cut off by a tiny cutoff", Array.from({ length: 8 }, (_, i) => JSON.stringify({ instruction: `A long question number ${i} with many words in it to fill the cutoff.`, output: "Yes." })).join("\n") + "\n", /cutoff_len/, "data.jsonl", { cutoff_len: 4 }),

  // --- dataset registries (dataset_info.json)
  { name: "a dataset name missing from dataset_info.json", setup: (dir) => registry(dir, '{"other": {"file_name": "x.jsonl"}}'), expect: /mine.*dataset_info\.json|dataset_info\.json.*mine/ },
  { name: "a dataset_info.json that is not JSON", setup: (dir) => registry(dir, '{"mine": {"file_name": '), expect: /dataset_info\.json: is not a valid JSON object/ },
  { name: "a dataset_info.json entry whose file is missing", setup: (dir) => registry(dir, '{"mine": {"file_name": "gone.jsonl"}}'), expect: /gone\.jsonl/ },
  { name: "a dataset_info.json entry without file_name", setup: (dir) => registry(dir, '{"mine": {"formatting": "alpaca"}}'), expect: /dataset_info\.json:1 mine: has no file_name/ },
  { name: "a dataset_info.json entry with an unknown formatting", setup: (dir) => registry(dir, '{"mine": {"file_name": "d.jsonl", "formatting": "csv"}}', { "d.jsonl": good }), expect: /mine: has formatting "csv"\. Use alpaca or sharegpt/ },
  { name: "a preference dataset (ranking) in dataset_info.json", setup: (dir) => registry(dir, '{"mine": {"file_name": "d.jsonl", "ranking": true}}', { "d.jsonl": good }), expect: /mine: has ranking: true/ },
  { name: "a dataset folder that does not exist", setup: (dir) => { modelFolder(dir); return [yaml(dir, { dataset: "mine", dataset_dir: join(dir, "no-such-dir") })]; }, expect: /no-such-dir|mine/ },
];

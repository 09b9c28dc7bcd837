// `whet import llamafactory CONFIG [-o OUT] [key=value ...]`: print (or write) the native Whetstone
// config equivalent to a LLaMA-Factory YAML, with comments where the mapping is not one to one.
import { existsSync, writeFileSync } from "node:fs";
import { WhetError, renderProblem } from "../../errors.ts";
import { parse } from "../args.ts";
import { importLlamaFactory } from "../../compat/import-llamafactory.ts";
import type { Command } from "./index.ts";

const OPTIONS = {
  output: { type: "string", short: "o" },
  force: { type: "boolean" },
} as const;

const SOURCES = ["llamafactory"];

const HELP = `Usage: whet import llamafactory CONFIG [-o OUT] [key=value ...]

Prints the Whetstone config equivalent to a LLaMA-Factory train config (its YAML, the
dataset_info.json names, the template and the deepspeed JSON it names). Comments mark keys that
were dropped (no effect here), keys whet warns about (not supported yet), deepspeed mapped to
sharding/offload, hub model ids and the file each dataset name resolves to. A config whet would
refuse (stage: dpo, a merge or inference config, ...) fails with the same error as whet train.

Options:
  -o, --output OUT   write the config to OUT instead of printing it
  --force            overwrite OUT if it exists
key=value pairs override the file's keys first, as in whet train.`;

export const importCommand: Command = {
  name: "import",
  summary: "convert a LLaMA-Factory config into a Whetstone config",
  help: () => HELP,
  async run(argv) {
    const { values, positionals } = parse("import", argv, OPTIONS);
    const [source, file, ...rest] = positionals;
    if (!source || !SOURCES.includes(source)) {
      throw new WhetError("USAGE", `expected what to import from (${SOURCES.join(", ")}), got ${source ? `"${source}"` : "nothing"}. Run: whet import llamafactory CONFIG.`);
    }
    if (!file) throw new WhetError("USAGE", "expected the LLaMA-Factory config file. Run: whet import llamafactory CONFIG [-o OUT].");
    const bad = rest.filter((p) => !p.includes("="));
    if (bad.length) throw new WhetError("USAGE", `expected one CONFIG, got ${[file, ...bad].join(", ")}. Pass overrides as key=value.`);
    const out = values.output;
    if (out && existsSync(out) && !values.force) {
      throw new WhetError("USAGE", [{ where: out, message: "exists already. Choose another -o path or pass --force to overwrite it." }]);
    }
    const { text, warnings } = importLlamaFactory(file, rest);
    for (const w of warnings) process.stderr.write(`warning: ${renderProblem(w)}\n`);
    if (out) {
      writeFileSync(out, text);
      process.stderr.write(`wrote ${out}\n`);
    } else process.stdout.write(text);
    return 0;
  },
};

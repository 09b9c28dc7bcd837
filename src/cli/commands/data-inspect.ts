// `whet data inspect [CONFIG]`: one sample as the model will see it, and which tokens carry loss.
import { dirname, resolve } from "node:path";
import { parse, intOption } from "../args.ts";
import { loadConfig } from "../../config/load.ts";
import { datasetOptions, inspectSample } from "../../data/index.ts";
import { resolveModel } from "../../runs/model.ts";
import { QUICKSTART_CONFIG } from "../../runs/prepare.ts";
import { WhetError, renderProblem } from "../../errors.ts";
import type { Command } from "./index.ts";

const OPTIONS = {
  index: { type: "string" },
  dataset: { type: "string" },
  "max-tokens": { type: "string" },
  color: { type: "boolean" },
  "no-color": { type: "boolean" },
} as const;

const HELP = `Usage: whet data inspect [CONFIG] [key=value ...] [options]

Renders one sample of CONFIG's data with its chat template: the text with special tokens,
then every token with its id and whether it carries loss ("+") or not ("."). Trained text is
shown in green on a terminal, or between [[ ]] otherwise. Without CONFIG: the quickstart.

Options:
  --index N          which record (default 0)
  --dataset NAME     which of the config's datasets (default the first)
  --max-tokens N     list at most N tokens in the table
  --color/--no-color force colours on or off`;

export const dataInspectCommand: Command = {
  name: "data inspect",
  summary: "show one rendered sample and which tokens carry loss",
  help: () => HELP,
  async run(argv) {
    const { values, positionals } = parse("data inspect", argv, OPTIONS);
    const overrides = positionals.filter((p) => p.includes("="));
    const paths = positionals.filter((p) => !p.includes("="));
    if (paths.length > 1) throw new WhetError("USAGE", `expected one CONFIG, got ${paths.join(", ")}.`);
    const configPath = resolve(paths[0] ?? QUICKSTART_CONFIG);
    const { config } = loadConfig(configPath, overrides);
    const configDir = dirname(configPath);
    const model = resolveModel(config.model_name_or_path, { configDir, randomInit: true, where: `${configPath} model_name_or_path` });
    const data = datasetOptions(config);
    const dataset = values.dataset ?? data.datasets[0]!;
    const color = values["no-color"] ? false : values.color ? true : Boolean(process.stdout.isTTY);
    const { text, warnings } = await inspectSample({
      dataset,
      datasetDir: data.datasetDir,
      configDir,
      stage: data.stage,
      template: data.template ?? null,
      tokenizerDir: model.path,
      cutoffLen: data.cutoffLen,
      trainOnPrompt: data.trainOnPrompt ?? false,
      maskHistory: data.maskHistory ?? false,
      placeholders: data.placeholders ?? null,
      index: intOption(values.index, "index") ?? 0,
      color,
      maxTokens: intOption(values["max-tokens"], "max-tokens"),
    });
    for (const w of warnings) process.stderr.write(`warning: ${renderProblem(w)}\n`);
    process.stdout.write(text + "\n");
    return 0;
  },
};

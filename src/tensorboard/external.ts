// Optional metric sinks named by LLaMA-Factory's `report_to`: tensorboard (built in, no Python
// package needed), wandb and mlflow (through their own Python clients, only when installed).
// Anything not enabled or not installed gets the do-nothing sink and, if asked for, a warning.
import { spawn, spawnSync } from "node:child_process";
import { basename } from "node:path";
import type { WhetEvent } from "../events/schema.ts";
import { scalarsOf, tensorboardSink, type MetricSink } from "./sink.ts";

export const NO_SINK: MetricSink = { onEvent() {}, close() {} };

// Reads {"step": n, "scalars": {...}} lines on stdin and logs them with the client.
const BRIDGE: Record<string, string> = {
  wandb: `
import json, os, sys, wandb
run = wandb.init(project=os.environ.get("WANDB_PROJECT", "whetstone"), name=sys.argv[1], dir=sys.argv[2])
for line in sys.stdin:
    m = json.loads(line); run.log(m["scalars"], step=m["step"])
run.finish()`,
  mlflow: `
import json, sys, mlflow
mlflow.start_run(run_name=sys.argv[1])
for line in sys.stdin:
    m = json.loads(line); mlflow.log_metrics(m["scalars"], step=m["step"])
mlflow.end_run()`,
};

function bridgeSink(kind: string, runDir: string, python: string): MetricSink {
  const child = spawn(python, ["-c", BRIDGE[kind]!, basename(runDir), runDir], { stdio: ["pipe", "ignore", "inherit"] });
  child.on("error", () => undefined);
  child.stdin.on("error", () => undefined); // the client died: metrics still reach events.jsonl
  return {
    onEvent(e: WhetEvent) {
      const s = scalarsOf(e);
      if (s && child.stdin.writable) child.stdin.write(JSON.stringify(s) + "\n");
    },
    close() {
      child.stdin.end();
    },
  };
}

function installed(python: string, module: string): boolean {
  return spawnSync(python, ["-c", `import ${module}`], { stdio: "ignore", timeout: 60_000 }).status === 0;
}

/** report_to as LLaMA-Factory takes it: a name, a comma list, a list, "none" or "all". */
export function parseReportTo(value: unknown): string[] {
  const list = Array.isArray(value) ? value.map(String) : typeof value === "string" ? value.split(",") : [];
  const names = list.map((s) => s.trim().toLowerCase()).filter((s) => s && s !== "none");
  return names.includes("all") ? ["tensorboard", "wandb", "mlflow"] : names;
}

/** One sink that fans out to every enabled and available backend; warnings say what was skipped. */
export function reportSinks(runDir: string, reportTo: unknown, python: string): { sink: MetricSink; warnings: string[] } {
  const sinks: MetricSink[] = [];
  const warnings: string[] = [];
  for (const name of new Set(parseReportTo(reportTo))) {
    if (name === "tensorboard") sinks.push(tensorboardSink(runDir));
    else if (name in BRIDGE) {
      if (installed(python, name)) sinks.push(bridgeSink(name, runDir, python));
      else warnings.push(`report_to: ${name} is not installed in ${python}; skipped. Install it with pip install ${name}.`);
    } else warnings.push(`report_to: ${name} is not supported; tensorboard, wandb and mlflow are.`);
  }
  if (sinks.length === 0) return { sink: NO_SINK, warnings };
  return {
    sink: { onEvent: (e) => sinks.forEach((s) => s.onEvent(e)), close: () => sinks.forEach((s) => s.close()) },
    warnings,
  };
}

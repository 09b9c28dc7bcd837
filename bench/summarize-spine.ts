// Reads the NDJSON event files that bench/spine-gpu.sh wrote and records one JSON result in
// bench/results/: hardware, versions, the exact commands, and per run: steps, first and last
// loss, median tokens/s (steps after the first), peak memory, export folder.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEventLine, type WhetEvent } from "../src/events/schema.ts";

const [dir, outFile] = process.argv.slice(2);
if (!dir || !outFile) throw new Error("usage: summarize-spine.ts EVENTS_DIR OUT.json");
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : null;
};
const runs: Record<string, unknown> = {};
let versions: Record<string, string> = {};
let device = "";
for (const f of readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()) {
  const events = readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean)
    .map(parseEventLine).filter((p) => p.ok).map((p) => (p as { event: WhetEvent }).event);
  const steps = events.filter((e) => e.type === "step");
  const hello = events.find((e) => e.type === "hello");
  const done = events.find((e) => e.type === "done");
  if (hello?.type === "hello") ({ versions, device } = { versions: hello.versions, device: hello.device });
  runs[f.replace(/\.jsonl$/, "")] = {
    completed: Boolean(done),
    steps: steps.length ? steps.at(-1)!.step : 0,
    first_loss: steps[0]?.loss ?? null,
    last_loss: steps.at(-1)?.loss ?? null,
    median_tokens_per_s: median(steps.slice(1).map((s) => s.tokens_per_s)),
    median_step_time_s: median(steps.slice(1).map((s) => s.step_time_s)),
    mem_peak_gib: Math.max(0, ...steps.map((s) => s.mem_peak_gib)),
    mem_reserved_gib: Math.max(0, ...steps.map((s) => s.mem_reserved_gib)),
    trainable_params: hello?.type === "hello" ? hello.trainable_params : null,
    total_params: hello?.type === "hello" ? hello.total_params : null,
    export_dir: done?.type === "done" ? done.export_dir : null,
    errors: events.filter((e) => e.type === "error"),
  };
}
const result = {
  benchmark: "spine-gpu",
  date: new Date().toISOString(),
  hardware: { device, nvidia_smi: readFileSync(join(dir, "gpu.csv"), "utf8").trim() },
  versions,
  commands: readFileSync(join(dir, "commands.txt"), "utf8").trim().split("\n"),
  runs,
};
writeFileSync(outFile, JSON.stringify(result, null, 2) + "\n");
console.log(JSON.stringify(runs, null, 1));

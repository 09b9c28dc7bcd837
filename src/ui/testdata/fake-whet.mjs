// A stand-in for `node bin/whet.js` in the dashboard's tests: `train CONFIG --json ...` or
// `train --resume RUN_DIR --json` writes events into the run directory (the config's folder, as
// the dashboard writes it there) at a steady pace, like the real supervisor would.
// SIGTERM: a checkpoint at the current step, then exit 130. Env FAKE_WHET_STEPS (default 40),
// FAKE_WHET_STEP_MS (default 100).
import { appendFileSync, mkdirSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const args = process.argv.slice(2);
const resumeAt = args.indexOf("--resume");
const dir = resumeAt >= 0 ? resolve(args[resumeAt + 1]) : dirname(resolve(args[1]));
const total = Number(process.env.FAKE_WHET_STEPS ?? 40);
const stepMs = Number(process.env.FAKE_WHET_STEP_MS ?? 100);
const events = join(dir, "events.jsonl");
const now = () => Date.now() / 1000;
const emit = (e) => appendFileSync(events, JSON.stringify({ time: now(), rank: 0, ...e }) + "\n");

mkdirSync(join(dir, "checkpoints"), { recursive: true });
if (resumeAt < 0) writeFileSync(join(dir, "config.yaml"), readFileSync(resolve(args[1]), "utf8"));
const done = readdirSync(join(dir, "checkpoints")).map((n) => Number(/^step-(\d+)$/.exec(n)?.[1] ?? 0));
let step = resumeAt >= 0 ? Math.max(0, ...done) : 0;
emit({ type: "hello", protocol: 1, world_size: 1, hostname: "fake", device: "cpu", versions: { fake: "1" }, trainable_params: 10, total_params: 10, start_step: step });

const checkpoint = () => {
  mkdirSync(join(dir, "checkpoints", `step-${step}`), { recursive: true });
  emit({ type: "checkpoint", step, path: join(dir, "checkpoints", `step-${step}`), size_bytes: 10, save_time_s: 0.01 });
};
process.on("SIGTERM", () => {
  checkpoint();
  emit({ type: "warning", code: "INTERRUPTED", message: `stopped at step ${step}` });
  process.exit(130);
});
const timer = setInterval(() => {
  step += 1;
  const loss = 3 * Math.exp(-step / 10) + 0.3;
  emit({ type: "step", step, total_steps: total, epoch: step / total, loss, lr: 1e-3, grad_norm: 1, trained_tokens: 100, tokens: 200, tokens_per_s: 2000, step_time_s: stepMs / 1000, data_time_s: 0.002, mem_allocated_gib: 0, mem_reserved_gib: 0, mem_peak_gib: 0 });
  if (step >= total) {
    clearInterval(timer);
    emit({ type: "done", run_dir: dir, steps: step, first_loss: 3.3, last_loss: loss, export_dir: join(dir, "export"), elapsed_s: 1 });
    process.exit(0);
  }
}, stepMs);

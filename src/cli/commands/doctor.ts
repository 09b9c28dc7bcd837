// `whet doctor`: can this machine train? GPUs, Python, GPU-to-GPU traffic, host, NCCL settings
// and precision, each with a verdict, the value measured and a fix. Exit 1 when a check failed.
import { resolve } from "node:path";
import { parse, intOption } from "../args.ts";
import { exitCode, renderReport, runDoctor, saveReport } from "../../doctor/index.ts";
import type { Command } from "./index.ts";

const OPTIONS = {
  gpus: { type: "string" },
  json: { type: "boolean" },
  quick: { type: "boolean" },
  config: { type: "string" },
  python: { type: "string" },
  "runs-dir": { type: "string" },
  save: { type: "string" },
  verbose: { type: "boolean" },
} as const;

const HELP = `Usage: whet doctor [options]

Checks that this machine can train: the GPUs (model, memory, driver and CUDA, compute capability,
bf16, clocks, load, topology), the Python side (interpreter, torch, CUDA, NCCL, transformers, peft,
deepspeed, the devices torch sees), peer copies with checksums between every pair of GPUs, NCCL
all-reduce, all-gather and reduce-scatter bus bandwidth from 1 MiB to 1 GiB against the link's
expected figure, the host (/dev/shm, free disk, open-file limit, RAM), known NCCL environment
problems and the variables whet sets for them, and with --config the precision the run will use
plus a bf16 matmul rate. Without a GPU it checks the CPU path (torch, a 2-process gloo all-reduce).

Options:
  --gpus N           GPUs to test (default: every visible GPU); more than are visible fails
  --quick            only P2P checksums and one small all-reduce (what 'whet train' runs)
  --config CONFIG    check the precision this run config loads, computes and saves in
  --python PATH      the Python with torch (default: $WHET_PYTHON, ./.venv, python3)
  --runs-dir DIR     where runs go, for the free-disk check (default ./runs)
  --save DIR         also write the report to DIR/doctor.json (for example a run directory)
  --verbose          print every check's detail, not only for problems
  --json             one JSON object {checks, summary} on stdout

Exit code 0 when no check failed (warnings allowed), 1 when any failed.`;

export const doctorCommand: Command = {
  name: "doctor",
  summary: "check GPUs, drivers, Python, NCCL, bandwidth and the host before training",
  help: () => HELP,
  async run(argv) {
    const { values } = parse("doctor", argv, OPTIONS);
    const gpus = intOption(values.gpus, "gpus");
    const report = await runDoctor({
      ...(gpus !== undefined ? { gpus } : {}),
      quick: values.quick ?? false,
      ...(values.config ? { configFile: resolve(values.config) } : {}),
      ...(values.python ? { python: values.python } : {}),
      ...(values["runs-dir"] ? { runsDir: values["runs-dir"] } : {}),
      ...(values.json ? {} : { progress: (l: string) => process.stderr.write(`  checking ${l}\n`) }),
    });
    if (values.save) {
      const path = saveReport(report, resolve(values.save));
      if (!values.json) process.stderr.write(`report saved to ${path}\n`);
    }
    process.stdout.write((values.json ? JSON.stringify(report) : renderReport(report, values.verbose ?? false)) + "\n");
    return exitCode(report);
  },
};

// The tables in docs/memory.md, generated so they stay true to the planner:
//   node --import tsx src/plan/table.ts           prints the markdown
//   node --import tsx src/plan/table.ts --write   replaces the generated part of docs/memory.md
// A test checks that the committed docs match renderTables().
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { checkpointingLabel } from "./activations.ts";
import { fitRun, type Candidate } from "./fit.ts";
import { planInference } from "./inference.ts";
import { planRun, type Method, type PlanInput } from "./planner.ts";
import { KNOWN_SHAPES, countParams } from "./shape.ts";
import { DEFAULT_CONSTANTS, type PlanConstants } from "./constants.ts";

const GiB = 1024 ** 3;
const GB = 1e9;
const MODELS = ["Llama-3-8B", "Qwen2.5-14B", "Qwen2.5-32B", "Llama-3-70B"] as const;
/** LLaMA-Factory's README size class for each shape (7B, 14B, 30B, 70B). */
const SIZE_CLASS = { "Llama-3-8B": 0, "Qwen2.5-14B": 1, "Qwen2.5-32B": 2, "Llama-3-70B": 3 } as const;
const LF: Record<string, [number, number, number, number]> = {
  full: [120, 240, 600, 1200],
  freeze: [20, 40, 80, 200],
  lora: [16, 32, 64, 160],
  "qlora 8-bit": [10, 20, 40, 80],
  "qlora 4-bit": [6, 12, 24, 48],
};
const METHODS: Record<string, Method> = {
  full: { kind: "full" },
  freeze: { kind: "freeze", trainableLayers: 2 },
  lora: { kind: "lora", rank: 8, targets: ["all"] },
  "qlora 8-bit": { kind: "qlora", rank: 8, targets: ["all"], bits: 8 },
  "qlora 4-bit": { kind: "qlora", rank: 8, targets: ["all"], bits: 4 },
};
/** nvidia-smi's memory.total: H100/A100 80GB and H200 141GB. */
const GPUS = [
  { label: "80 GB", bytes: 81559 * 1024 ** 2 },
  { label: "141 GB", bytes: 143771 * 1024 ** 2 },
];
export const WORKLOAD = { seqLen: 2048, globalRows: 32, margin: 0.1 };

function input(model: (typeof MODELS)[number], method: Method, world: number): PlanInput {
  return {
    shape: KNOWN_SHAPES[model]!,
    method,
    computeBytes: 2,
    stage: "none",
    offload: "none",
    world,
    microBatch: 1,
    seqLen: WORKLOAD.seqLen,
    gradientAccumulation: WORKLOAD.globalRows / world,
    checkpointing: { mode: "full" },
    attention: "flash",
    loss: "fused",
  };
}

const n1 = (b: number, unit = GiB) => (b / unit).toFixed(1);
function cell(c: Candidate | null, smallest: Candidate): string {
  if (!c) return `no (needs ${n1(smallest.plan.peak.total)})`;
  const sharding = c.stage === "none" ? "ddp" : c.stage;
  const offload = c.offload === "none" ? "" : c.offload === "optimizer" ? "+opt-off" : "+full-off";
  return `${n1(c.plan.peak.total)} · ${sharding}${offload} · ${checkpointingLabel(c.checkpointing)} · m${c.microBatch}`;
}

function fitTable(k: PlanConstants): string[] {
  const out: string[] = [];
  for (const gpu of GPUS) {
    out.push(`#### ${gpu.label} GPUs (${n1(gpu.bytes)} GiB each)`, "", "| model | method | 1 GPU | 2 GPUs | 4 GPUs | 8 GPUs |", "| --- | --- | --- | --- | --- | --- |");
    for (const model of MODELS) {
      for (const name of ["full", "lora", "qlora 4-bit"]) {
        const cells = [1, 2, 4, 8].map((world) => {
          const r = fitRun(input(model, METHODS[name]!, world), { gpuMemoryBytes: gpu.bytes, margin: WORKLOAD.margin, constants: k });
          return cell(r.best, r.smallest);
        });
        out.push(`| ${model} | ${name} | ${cells.join(" | ")} |`);
      }
    }
    out.push("");
  }
  return out;
}

function comparisonTable(k: PlanConstants): string[] {
  const out = [
    "| model | method | model states (GB) | peak, 1 GPU, micro 1 (GB) | LLaMA-Factory figure (GB) |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const model of MODELS) {
    for (const [name, method] of Object.entries(METHODS)) {
      const p = planRun({ ...input(model, method, 1), gradientAccumulation: 1 }, k);
      const s = p.phases.optimizer_step;
      const lf = LF[name]![SIZE_CLASS[model]];
      out.push(`| ${model} | ${name} | ${n1(s.weights + s.gradients + s.optimizer, GB)} | ${n1(p.peak.total, GB)} | ${lf} |`);
    }
  }
  return out;
}

function inferenceTable(): string[] {
  const out = ["| model | parameters | bf16 weights (GB) | KV cache, 4096 tokens × 1 (GB) | KV cache, 32768 tokens × 8 (GB) | 2 × parameter bytes (GB) |", "| --- | --- | --- | --- | --- | --- |"];
  for (const model of MODELS) {
    const shape = KNOWN_SHAPES[model]!;
    const short = planInference({ shape, weightBytes: 2, contextLen: 4096, batch: 1 });
    const long = planInference({ shape, weightBytes: 2, contextLen: 32768, batch: 8 });
    out.push(`| ${model} | ${(countParams(shape).total / 1e9).toFixed(2)}B | ${n1(short.weights, GB)} | ${n1(short.kvCache, GB)} | ${n1(long.kvCache, GB)} | ${n1(2 * short.weights, GB)} |`);
  }
  return out;
}

export function renderTables(k: PlanConstants = DEFAULT_CONSTANTS): string {
  return [
    `Workload: packed rows of ${WORKLOAD.seqLen} tokens, global batch ${WORKLOAD.globalRows} rows, bf16 compute, varlen (flash) attention, the worker's fused head and loss, margin ${WORKLOAD.margin * 100}%.`,
    `Constants: ${k.source.hardware} (${k.source.date}).`,
    "",
    "### What `whet plan --fit` picks",
    "",
    "Each cell: predicted peak GiB per GPU · sharding (+opt-off: optimizer offload, +full-off: parameters and optimizer offload) · checkpointing · micro-batch. `no`: nothing fits; the smallest setting's need in GiB.",
    "",
    ...fitTable(k),
    "### Beside LLaMA-Factory's figures",
    "",
    "One GPU, DDP, micro-batch 1 × 2048 tokens, full checkpointing, no offload. GB = 10⁹ bytes as both sources use.",
    "",
    ...comparisonTable(k),
    "",
    "### Inference",
    "",
    ...inferenceTable(),
  ].join("\n");
}

const START = "<!-- generated by src/plan/table.ts: start -->";
const END = "<!-- generated by src/plan/table.ts: end -->";

/** Replaces what stands between two marker lines of a markdown document. */
export function spliceBetween(doc: string, start: string, end: string, text: string): string {
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`the document lacks the markers ${start} ... ${end}`);
  return `${doc.slice(0, a + start.length)}\n${text}\n${doc.slice(b)}`;
}

/** Replaces the generated tables of a markdown document. */
export function spliceTables(doc: string, tables: string): string {
  return spliceBetween(doc, START, END, tables);
}

export const DOC_PATH = fileURLToPath(new URL("../../docs/memory.md", import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const tables = renderTables();
  if (process.argv.includes("--write")) writeFileSync(DOC_PATH, spliceTables(readFileSync(DOC_PATH, "utf8"), tables));
  else process.stdout.write(tables + "\n");
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32c, maskedCrc32c } from "./crc32c.ts";
import { scalarsOf, tensorboardSink } from "./sink.ts";
import { REPO_ROOT } from "../launch/python.ts";
import type { WhetEvent } from "../events/schema.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

test("CRC-32C matches the published check values", () => {
  assert.equal(crc32c(bytes("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(maskedCrc32c(bytes("123456789")), (((0xe3069283 >>> 15) | (0xe3069283 << 17)) + 0xa282ead8) >>> 0);
});

// A reader independent of the writer: TFRecord frames and a generic protobuf walk.
function readRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    const len = Number(buf.readBigUInt64LE(at));
    assert.equal(buf.readUInt32LE(at + 8), maskedCrc32c(buf.subarray(at, at + 8)), "length crc");
    const data = buf.subarray(at + 12, at + 12 + len);
    assert.equal(buf.readUInt32LE(at + 12 + len), maskedCrc32c(data), "data crc");
    out.push(data);
    at += len + 16;
  }
  return out;
}

type Fields = Map<number, (number | bigint | Buffer)[]>;
function decode(buf: Buffer): Fields {
  const f: Fields = new Map();
  let at = 0;
  const varint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[at++]!;
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const [field, wire] = [key >> 3, key & 7];
    let v: number | bigint | Buffer;
    if (wire === 0) v = varint();
    else if (wire === 1) (v = buf.readDoubleLE(at)), (at += 8);
    else if (wire === 5) (v = buf.readFloatLE(at)), (at += 4);
    else if (wire === 2) {
      const n = Number(varint());
      v = buf.subarray(at, at + n);
      at += n;
    } else throw new Error(`wire type ${wire}`);
    f.set(field, [...(f.get(field) ?? []), v]);
  }
  return f;
}

const step = (n: number, loss: number): WhetEvent => ({
  type: "step", time: 1700000000 + n, rank: 0, step: n, total_steps: 3, epoch: 0, loss, lr: 1e-4, grad_norm: 0.5, trained_tokens: 10,
  tokens: 20, tokens_per_s: 1000, step_time_s: 0.5, data_time_s: 0.01, mem_allocated_gib: 1, mem_reserved_gib: 2, mem_peak_gib: 3,
});

function writeRun(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "whet-tb-"));
  const sink = tensorboardSink(dir);
  sink.onEvent({ type: "hello", time: 1700000000, rank: 0, protocol: 1, world_size: 1, hostname: "h", device: "cpu", versions: {}, trainable_params: 1, total_params: 1, start_step: 0 });
  sink.onEvent(step(1, 3.5));
  sink.onEvent(step(2, 2.25));
  sink.onEvent({ type: "eval", time: 1700000003, rank: 0, step: 2, eval_loss: 2.5 });
  sink.close();
  const tb = join(dir, "tensorboard");
  const [name] = readdirSync(tb);
  assert.match(name!, /^events\.out\.tfevents\.\d+\./);
  return { dir, file: join(tb, name!) };
}

test("the sink writes framed Event protos with scalar summaries", () => {
  const { file } = writeRun();
  const records = readRecords(readFileSync(file)).map(decode);
  assert.equal(records.length, 4);
  assert.equal(records[0]!.get(3)![0]!.toString(), "brain.Event:2");
  const scalars = (r: Fields) =>
    Object.fromEntries((r.get(5) ? decode(r.get(5)![0] as Buffer).get(1)! : []).map((v) => {
      const val = decode(v as Buffer);
      return [val.get(1)![0]!.toString(), val.get(2)![0] as number];
    }));
  assert.equal(records[1]!.get(2)![0], 1n);
  assert.equal(records[1]!.get(1)![0], 1700000001);
  assert.equal(scalars(records[1]!)["train/loss"], 3.5);
  assert.equal(scalars(records[2]!)["memory/peak_gib"], 3);
  assert.equal(scalars(records[3]!)["eval/loss"], 2.5);
});

test("TensorBoard's own reader loads the file (when the tensorboard package is installed)", (t) => {
  const python = join(REPO_ROOT, ".venv", "bin", "python");
  const probe = existsSync(python) ? spawnSync(python, ["-c", "import tensorboard"]) : { status: 1 };
  if (probe.status !== 0) return t.skip("no tensorboard package in .venv");
  const { dir } = writeRun();
  const script = `
import sys, json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1]); acc.Reload()
tags = acc.Tags()["scalars"]
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags}))`;
  const r = spawnSync(python, ["-c", script, join(dir, "tensorboard")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.deepEqual(out["train/loss"], [[1, 3.5], [2, 2.25]]);
  assert.deepEqual(out["eval/loss"], [[2, 2.5]]);
  assert.ok(Math.abs(out["train/lr"][0][1] - 1e-4) < 1e-9);
});

test("tags: every numeric step field by the shared rule, new fields included; rank 0 only", () => {
  const e = { ...step(7, 1.5), mfu: 0.41, fwd_bwd_time_s: 0.3, comm_wait_time_s: 0.05, grad_norm: null, note: "x" } as WhetEvent;
  const s = scalarsOf(e)!;
  assert.equal(s.step, 7);
  assert.deepEqual(s.scalars, {
    "train/epoch": 0, "train/loss": 1.5, "train/lr": 1e-4, "train/trained_tokens": 10, "train/tokens": 20,
    "perf/tokens_per_s": 1000, "perf/step_time_s": 0.5, "perf/data_time_s": 0.01,
    "memory/allocated_gib": 1, "memory/reserved_gib": 2, "memory/peak_gib": 3,
    "perf/mfu": 0.41, "perf/fwd_bwd_time_s": 0.3, "perf/comm_wait_time_s": 0.05,
  });
  assert.equal(scalarsOf({ ...e, rank: 1 } as WhetEvent), undefined);
  assert.deepEqual(scalarsOf({ type: "eval", time: 1, rank: 0, step: 4, eval_loss: 2 })!.scalars, { "eval/loss": 2 });
});

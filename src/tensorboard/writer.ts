// A TensorBoard event file (events.out.tfevents.*): TFRecord framing around Event protos.
// Each record: uint64 length, masked CRC-32C of the length, the data, masked CRC-32C of the data.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { maskedCrc32c } from "./crc32c.ts";
import { encodeEvent, type EventProto } from "./proto.ts";

export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

export class EventFileWriter {
  readonly path: string;
  private fd: number | undefined;

  constructor(dir: string, now = Date.now() / 1000) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}.whet`);
    this.fd = openSync(this.path, "a");
    this.write({ wallTime: now, fileVersion: "brain.Event:2" });
  }

  /** One record per call, written through (readers see each step as it lands). */
  write(e: EventProto): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, frameRecord(encodeEvent(e)));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

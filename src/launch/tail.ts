// Follows an NDJSON file that other processes append to, yielding whole lines only.
import { openSync, readSync, closeSync, existsSync, fstatSync, statSync } from "node:fs";

export class LineTail {
  private offset = 0;
  private partial = "";
  private fd: number | undefined;

  /** fromEnd: skip what the file already holds (a later attempt appending to the same run). */
  constructor(private readonly path: string, opts: { fromEnd?: boolean } = {}) {
    if (opts.fromEnd && existsSync(path)) this.offset = statSync(path).size;
  }

  /** Returns the complete lines appended since the last call. */
  poll(): string[] {
    if (this.fd === undefined) {
      if (!existsSync(this.path)) return [];
      this.fd = openSync(this.path, "r");
    }
    const size = fstatSync(this.fd).size;
    if (size <= this.offset) return [];
    const buf = Buffer.alloc(size - this.offset);
    const n = readSync(this.fd, buf, 0, buf.length, this.offset);
    this.offset += n;
    const text = this.partial + buf.subarray(0, n).toString("utf8");
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    return lines.filter((l) => l.trim() !== "");
  }

  /** Whatever is left without a newline at the end (a truncated last line). */
  rest(): string {
    const r = this.partial;
    this.partial = "";
    return r;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

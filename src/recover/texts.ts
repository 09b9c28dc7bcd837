// The ends of a run's logs, where NCCL and the C++ side of torch write what the error events
// do not carry; read only when a run failed, to match against known causes.
import { closeSync, existsSync, fstatSync, openSync, readSync, readdirSync } from "node:fs";
import { join } from "node:path";

export function readTail(logsDir: string, bytes = 65_536): string[] {
  if (!existsSync(logsDir)) return [];
  return readdirSync(logsDir)
    .filter((n) => /^rank-\d+\.log$|^launcher\.log$/.test(n))
    .map((n) => {
      const fd = openSync(join(logsDir, n), "r");
      try {
        const size = fstatSync(fd).size;
        const buf = Buffer.alloc(Math.min(size, bytes));
        readSync(fd, buf, 0, buf.length, size - buf.length);
        return buf.toString("utf8");
      } finally {
        closeSync(fd);
      }
    });
}

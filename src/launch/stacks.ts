// Python stacks of every local rank, for a stall: py-spy when it is on PATH (it reads a process
// from outside, even one stuck in C), else SIGUSR1, on which the worker's faulthandler writes all
// threads' stacks into its rank log (worker/whet_worker/watch.py). Both land in logs/stacks.log.
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, openSync, readSync, closeSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Beat } from "./heartbeat.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
}

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

function readFrom(path: string, offset: number): string {
  if (!existsSync(path)) return "";
  const fd = openSync(path, "r");
  try {
    const size = statSync(path).size;
    const buf = Buffer.alloc(Math.max(0, Math.min(size - offset, 1 << 20)));
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

export interface StackDump {
  path: string;
  /** Each dumped rank's stack text. */
  byRank: Map<number, string>;
}

/** The main thread's part of a dump (faulthandler or py-spy): the thread running the worker. */
export function mainThread(dump: string): string {
  const sections = dump.split(/\n(?=(?:Current thread|Thread) )/);
  return sections.find((t) => /whet_worker[/\\]__main__\.py/.test(t)) ?? "";
}

/** Whether a rank's main thread waits inside a collective (torch.distributed's Python layer). */
export function inCollective(dump: string): boolean {
  return /distributed_c10d\.py|_functional_collectives|_fsdp_collectives\.py|\b(all_reduce|all_gather\w*|reduce_scatter\w*|broadcast|barrier)\b/.test(mainThread(dump));
}

/** Dumps the stacks of the ranks running on this host into logs/stacks.log. */
export async function dumpStacks(beats: Beat[], logsDir: string, waitMs = 2000): Promise<StackDump> {
  const byRank = new Map<number, string>();
  const out = join(logsDir, "stacks.log");
  const local = beats.filter((b) => b.host === hostname() && b.phase !== "exited");
  const header = (b: Beat, how: string) => `==== rank ${b.rank} (pid ${b.pid} on ${b.host}), step ${b.step ?? "-"}, ${b.phase}; ${how} ====\n`;
  writeFileSync(out, `Python stacks of the ranks, taken ${new Date().toISOString()} because they stopped making progress.\n\n`);
  const pending: { beat: Beat; log: string; offset: number }[] = [];
  const pyspy = onPath("py-spy");
  for (const b of local) {
    if (pyspy) {
      const r = spawnSync("py-spy", ["dump", "--pid", String(b.pid)], { encoding: "utf8", timeout: 20_000 });
      if (r.status === 0 && r.stdout.trim()) {
        byRank.set(b.rank, r.stdout);
        appendFileSync(out, header(b, "py-spy dump") + r.stdout + "\n");
        continue;
      }
    }
    const log = join(logsDir, `rank-${b.rank}.log`);
    pending.push({ beat: b, log, offset: sizeOf(log) });
    try {
      process.kill(b.pid, "SIGUSR1");
    } catch {
      // gone meanwhile
    }
  }
  if (pending.length > 0) {
    // faulthandler writes from the signal handler at once; give slow disks a moment.
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && pending.some((p) => sizeOf(p.log) === p.offset)) await sleep(100);
    await sleep(200);
    for (const p of pending) {
      const text = readFrom(p.log, p.offset);
      byRank.set(p.beat.rank, text);
      appendFileSync(out, header(p.beat, "faulthandler (SIGUSR1)") + (text.trim() ? text : "(nothing written: the process did not answer)\n") + "\n");
    }
  }
  if (local.length < beats.filter((b) => b.phase !== "exited").length) {
    appendFileSync(out, "Ranks on other hosts are not included: run py-spy dump --pid PID there.\n");
  }
  return { path: out, byRank };
}

// The worker processes under torchrun. torchrun starts each rank in a session of its own, so a
// signal to torchrun's process group does not reach them, and a SIGKILLed torchrun leaves them
// running; the supervisor therefore remembers the ranks' pids and signals them itself.
// Linux reads /proc; elsewhere only the pids from the heartbeats are known.
import { existsSync, readFileSync, readdirSync } from "node:fs";

/** Fields of /proc/PID/stat after "pid (comm)": state is [0], ppid [1], starttime [19]. */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces and parentheses, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

function parentOf(pid: string): number | null {
  const ppid = Number(statFields(pid)?.[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

/** When the process started (clock ticks since boot): with the pid, it names one process. */
export function startTime(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

/** Every process below `root` (children, grandchildren, ...). */
export function descendants(root: number): number[] {
  if (!existsSync("/proc/self/stat")) return [];
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(name);
    if (ppid !== null) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Still alive and still the whet worker seen before (a pid could have been reused since). */
export function isWorker(pid: number, started?: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!existsSync("/proc/self/cmdline")) return true;
  if (started && startTime(pid) !== started) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("whet_worker");
  } catch {
    return false;
  }
}

/** Sends `sig` to each worker and its own process group (its children: compile workers, loaders).
 *  `workers` maps pid to its start time, as recorded when it was first seen. */
export function signalWorkers(workers: Map<number, string | null>, sig: NodeJS.Signals): void {
  for (const [pid, started] of workers) {
    if (!isWorker(pid, started)) continue;
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, sig);
      } catch {
        // not a group leader, or gone
      }
    }
  }
}

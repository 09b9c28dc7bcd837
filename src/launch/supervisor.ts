// Runs the launch command, streams the worker's events, and watches every rank: a rank that dies
// stops the others, a rank that stops making progress gets its stack dumped and the job stopped.
// States: running -> stopping -> exited. The result says what happened; src/recover/ decides
// what to do about it and how to say it.
// Long-ish because it is one state machine: events, heartbeats, signals and timers share state.
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { LineTail } from "./tail.ts";
import { DEFAULT_STALL, StepClock, findStall, readBeats, type Beat, type Stall, type StallPolicy } from "./heartbeat.ts";
import { dumpStacks, inCollective } from "./stacks.ts";
import { descendants, isWorker, signalWorkers, startTime } from "./procs.ts";
import { parseEventLine, type WhetEvent, type DoneEvent, type ErrorEvent, type StepEvent } from "../events/schema.ts";

export interface SuperviseOptions {
  argv: string[];
  env: NodeJS.ProcessEnv;
  eventsPath: string;
  launcherLog: string;
  onEvent: (e: WhetEvent, line: string) => void;
  onGarbage: (reason: string) => void;
  /** Human lines while the job runs ("rank 1 died; stopping the others"). */
  onNotice?: (text: string) => void;
  /** Where the ranks' heartbeats are (logs/heartbeat); without it there is no stall or death watch. */
  heartbeatDir?: string;
  /** The rank logs' folder, where stacks.log is written on a stall. */
  logsDir?: string;
  stall?: StallPolicy;
  /** Grace period between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** After a rank reports an error, how long the others get to exit on their own. */
  errorGraceMs?: number;
  /** After a rank died without a word, how long torchrun gets to notice before we stop the job. */
  deadGraceMs?: number;
  /** Consecutive logged steps with a loss of exactly 0 that stop the run. */
  zeroLossSteps?: number;
  /** Install SIGINT/SIGTERM handlers (the default); off when the caller forwards them to interrupt(). */
  handleSignals?: boolean;
}

export interface RankFailure {
  rank: number | null;
  exitCode: number | null;
  signal: string | null;
  host?: string | null;
}

export interface DeadRank {
  beat: Beat;
  detectedAfterS: number;
}

export interface SuperviseResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  done: DoneEvent | null;
  errors: ErrorEvent[];
  lastStep: number;
  /** The step this attempt started after (the hello's start_step). */
  startStep: number;
  /** Ctrl-C or SIGTERM reached the supervisor. */
  interrupted: boolean;
  /** The worker said it stopped on a signal after writing a checkpoint. */
  stoppedCleanly: boolean;
  /** torchrun's root cause: the first rank it saw fail (not always the one that caused it). */
  failure: RankFailure | null;
  /** Every rank torchrun saw fail. */
  failures: RankFailure[];
  stall: (Stall & { stacksPath: string | null }) | null;
  dead: DeadRank | null;
  zeroLoss: StepEvent[] | null;
  /** The last logged steps (for a NaN's diagnosis). */
  recentSteps: StepEvent[];
  beats: Beat[];
}

export interface Supervised {
  result: Promise<SuperviseResult>;
  /** First call: a checkpoint at the next step boundary, then exit. Second: kill every rank now. */
  interrupt(): void;
}

const POLL_MS = 150;
const BEAT_POLL_MS = 1000;

export function supervise(opts: SuperviseOptions): Promise<SuperviseResult> {
  return startSupervised(opts).result;
}

export function startSupervised(opts: SuperviseOptions): Supervised {
  const killGraceMs = opts.killGraceMs ?? 15_000;
  const errorGraceMs = opts.errorGraceMs ?? 10_000;
  const deadGraceMs = opts.deadGraceMs ?? 5_000;
  const zeroLossSteps = opts.zeroLossSteps ?? 3;
  const policy = opts.stall ?? DEFAULT_STALL;
  const notice = opts.onNotice ?? (() => undefined);
  const log = createWriteStream(opts.launcherLog, { flags: "a" });
  // Earlier attempts of the same run wrote to the same file: read only what this one adds.
  const tail = new LineTail(opts.eventsPath, { fromEnd: true });
  const clock = new StepClock();
  let launcherText = "";
  let done: DoneEvent | null = null;
  const errors: ErrorEvent[] = [];
  const recentSteps: StepEvent[] = [];
  let lastStep = 0;
  let startStep = 0;
  let zeroRun: StepEvent[] = [];
  let zeroLoss: StepEvent[] | null = null;
  let stoppedCleanly = false;
  let interrupts = 0;
  let beats: Beat[] = [];
  let dead: DeadRank | null = null;
  let stall: SuperviseResult["stall"] = null;
  let state: "running" | "stopping" | "exited" = "running";
  const timers: NodeJS.Timeout[] = [];
  // Beats left by an earlier attempt would read as ranks that died.
  if (opts.heartbeatDir) {
    rmSync(opts.heartbeatDir, { recursive: true, force: true });
    mkdirSync(opts.heartbeatDir, { recursive: true });
  }

  const child = spawn(opts.argv[0]!, opts.argv.slice(1), {
    env: opts.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so every rank can be signalled at once
  });
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    launcherText = (launcherText + chunk.toString("utf8")).slice(-65_536);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);

  // Worker pids seen under torchrun or in the beats; they live in sessions of their own.
  const workers = new Map<number, string | null>();
  const remember = (pid: number) => {
    if (!workers.has(pid) && isWorker(pid)) workers.set(pid, startTime(pid));
  };
  const track = () => {
    if (child.pid !== undefined) for (const pid of descendants(child.pid)) remember(pid);
    for (const b of beats) if (b.host === hostname() && b.phase !== "exited") remember(b.pid);
  };
  const signalGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    if (state !== "exited") {
      track();
      try {
        process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    }
    signalWorkers(workers, sig);
  };
  /** SIGTERM to every rank, SIGKILL after the grace period. */
  const stop = (graceMs = killGraceMs) => {
    if (state !== "running") return;
    state = "stopping";
    signalGroup("SIGTERM");
    timers.push(setTimeout(() => signalGroup("SIGKILL"), graceMs));
  };
  const after = (ms: number, fn: () => void) => timers.push(setTimeout(fn, ms));

  const onStep = (e: StepEvent) => {
    lastStep = Math.max(lastStep, e.step);
    clock.add(e.step_time_s);
    recentSteps.push(e);
    if (recentSteps.length > 20) recentSteps.shift();
    // A loss of exactly 0 means no token carried loss (an empty loss mask), not a perfect model.
    zeroRun = e.loss === 0 ? [...zeroRun, e] : [];
    if (zeroRun.length >= zeroLossSteps && !zeroLoss) {
      zeroLoss = zeroRun;
      notice(`the loss was exactly 0 for ${zeroRun.length} logged steps; stopping (checkpoint first)`);
      gentleStop();
    }
  };

  const drain = () => {
    for (const line of tail.poll()) {
      const parsed = parseEventLine(line);
      if (!parsed.ok) {
        opts.onGarbage(parsed.reason);
        continue;
      }
      const e = parsed.event;
      if (e.type === "hello" && e.rank === 0) startStep = e.start_step;
      if (e.type === "step") onStep(e);
      if (e.type === "done") done = e;
      if (e.type === "warning" && e.code === "INTERRUPTED") stoppedCleanly = true;
      if (e.type === "error") {
        errors.push(e);
        // The failing rank exits by itself; the others may be stuck in a collective.
        if (errors.length === 1) after(errorGraceMs, () => stop());
      }
      opts.onEvent(e, line);
    }
  };
  const poller = setInterval(drain, POLL_MS);

  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  };
  const watchBeats = async () => {
    if (!opts.heartbeatDir || state !== "running") return;
    beats = readBeats(opts.heartbeatDir);
    for (const b of beats) clock.observe(b);
    track();
    const here = hostname();
    const gone = beats.find((b) => b.phase !== "exited" && b.host === here && !alive(b.pid));
    if (gone && !dead) {
      dead = { beat: gone, detectedAfterS: Math.max(0, Date.now() / 1000 - gone.time) };
      notice(`rank ${gone.rank} (pid ${gone.pid} on ${gone.host}) died at step ${gone.step ?? "-"} (${gone.phase}); stopping the other ranks`);
      // torchrun notices within a second and stops the rest itself; this is the backstop.
      after(deadGraceMs, () => stop());
      return;
    }
    const found = findStall(beats, Date.now() / 1000, clock.median(), policy);
    if (found && !stall && !dead) {
      stall = { ...found, stacksPath: null };
      notice(`no progress for ${Math.round(found.stuckS)} s (limit ${Math.round(found.timeoutS)} s); dumping every rank's Python stack`);
      if (opts.logsDir) {
        try {
          const dump = await dumpStacks(found.ranks, opts.logsDir);
          stall.stacksPath = dump.path;
          Object.assign(stall, refineByStacks(found, dump.byRank));
        } catch (e) {
          notice(`could not dump the stacks: ${(e as Error).message}`);
        }
      }
      // A stalled rank cannot take part in a checkpoint: a short grace, then SIGKILL.
      stop(Math.min(killGraceMs, 3_000));
    }
  };
  let watching = false;
  const beatPoller = setInterval(() => {
    if (watching) return;
    watching = true;
    watchBeats().finally(() => (watching = false));
  }, BEAT_POLL_MS);

  /** SIGTERM to the worker processes only: each finishes its step and writes a checkpoint.
   *  torchrun itself is left alone (on SIGTERM it would give the ranks 30 s, then SIGKILL). */
  const gentleStop = () => {
    track();
    if (workers.size === 0) signalGroup("SIGTERM");
    else signalWorkers(workers, "SIGTERM");
    state = "stopping";
    after(5 * 60_000, () => signalGroup("SIGKILL"));
  };

  const interrupt = () => {
    interrupts += 1;
    if (interrupts === 1) {
      notice("stopping: a checkpoint is written at the next step boundary (Ctrl-C again to stop at once)");
      if (opts.heartbeatDir) beats = readBeats(opts.heartbeatDir);
      gentleStop();
    } else {
      notice("stopping now: every rank is killed");
      signalGroup("SIGKILL");
    }
  };
  const handleSignals = opts.handleSignals ?? true;
  if (handleSignals) {
    process.on("SIGINT", interrupt);
    process.on("SIGTERM", interrupt);
  }

  const result = new Promise<SuperviseResult>((resolve) => {
    child.on("close", (code, signal) => {
      // torchrun is gone; a rank it left behind (it was SIGKILLed, or crashed) must not live on.
      signalWorkers(workers, "SIGKILL");
      state = "exited";
      clearInterval(poller);
      clearInterval(beatPoller);
      for (const t of timers) clearTimeout(t);
      if (handleSignals) {
        process.off("SIGINT", interrupt);
        process.off("SIGTERM", interrupt);
      }
      drain();
      const rest = tail.rest();
      if (rest.trim()) opts.onGarbage(`truncated last line: ${rest.slice(0, 120)}`);
      tail.close();
      log.end();
      if (opts.heartbeatDir) beats = readBeats(opts.heartbeatDir);
      const failed = code !== 0 || signal !== null;
      resolve({
        exitCode: code,
        signal,
        done,
        errors,
        lastStep,
        startStep,
        interrupted: interrupts > 0,
        stoppedCleanly,
        failure: failed ? parseTorchrunFailure(launcherText) : null,
        failures: failed ? parseTorchrunFailures(launcherText) : [],
        stall,
        dead,
        zeroLoss,
        recentSteps,
        beats,
      });
    });
  });
  return { result, interrupt };
}

/** Ranks at the same step and phase look alike; the one not waiting in a collective while the
 *  others are is the one they wait for. */
export function refineByStacks(stall: Stall, byRank: Map<number, string>): Pick<Stall, "rank" | "together" | "why"> {
  const dumped = stall.ranks.filter((b) => byRank.get(b.rank)?.trim());
  const outside = dumped.filter((b) => !inCollective(byRank.get(b.rank)!));
  if (outside.length > 0 && outside.length < dumped.length) {
    const waiting = dumped.filter((b) => !outside.includes(b)).map((b) => b.rank);
    return { rank: outside[0]!, together: false, why: `its stack is outside any collective while rank(s) ${waiting.join(", ")} wait in one` };
  }
  return { rank: stall.rank, together: stall.together, why: stall.why };
}

/** Reads the first failed rank from torchrun's "Root Cause" report. */
export function parseTorchrunFailure(text: string): RankFailure {
  const root = text.lastIndexOf("Root Cause");
  return parseEntry(root >= 0 ? text.slice(root) : text);
}

/** Every failed rank torchrun lists (its "Failures:" and "Root Cause" sections). */
export function parseTorchrunFailures(text: string): RankFailure[] {
  const start = text.lastIndexOf("Failures:");
  const part = start >= 0 ? text.slice(start) : text.slice(Math.max(0, text.lastIndexOf("Root Cause")));
  const out = new Map<number, RankFailure>();
  for (const block of part.split(/\n\[\d+\]:\n/).slice(1)) {
    const f = parseEntry(block);
    if (f.rank !== null && !out.has(f.rank)) out.set(f.rank, f);
  }
  return [...out.values()];
}

function parseEntry(part: string): RankFailure {
  const rank = /rank\s*:\s*(\d+)/.exec(part);
  const exit = /exitcode\s*:\s*(-?\d+)/.exec(part);
  const sig = /Signal (\d+) \((SIG\w+)\)/.exec(part);
  const host = /host\s*:\s*(\S+)/.exec(part);
  const exitCode = exit ? Number(exit[1]) : null;
  return {
    rank: rank ? Number(rank[1]) : null,
    exitCode,
    signal: sig ? sig[2]! : exitCode !== null && exitCode < 0 ? `signal ${-exitCode}` : null,
    host: host ? host[1]! : null,
  };
}

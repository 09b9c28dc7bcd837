// One run: its state and controls, the curves (live or replayed), its GPUs, checkpoints, warnings
// and errors, and what it was launched with.
import { useEffect, useState } from "preact/hooks";
import { get, post, runPath, type RunDetail } from "../api.ts";
import { useRun } from "../run/useRun.ts";
import { eta, latest, progressLine } from "../run/model.ts";
import { ErrorBox, Progress, StatusBadge } from "../components/Status.tsx";
import { Curves } from "../components/Curves.tsx";
import { Details } from "../components/RunDetails.tsx";
import { GpuTable } from "../components/Gpus.tsx";
import { bytes, count, duration, gib, loss, sci } from "../format.ts";

export function RunPage({ id }: { id: string }) {
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [busy, setBusy] = useState(false);
  const [stopSent, setStopSent] = useState(false);

  const load = () =>
    get<RunDetail>(runPath(id))
      .then((d) => setDetail(d))
      .catch((e: Error) => setError(e.message));
  useEffect(() => void load(), [id, attempt]);

  const running = detail ? detail.summary.status === "running" : null;
  const run = useRun(id, running, attempt);
  // When a live run ends, refresh the details (checkpoints, final state).
  useEffect(() => {
    if (run.ended && run.kind === "live") void load();
  }, [run.ended]);
  // A run launched from the form has no spec.json until it is prepared: fetch it once it runs.
  const started = run.model.hellos.length > 0;
  useEffect(() => {
    if (started && detail && !detail.spec) void load();
  }, [started]);

  const summary = run.status ?? detail?.summary ?? null;
  const p = run.model.progress;
  const now = run.ended ? p.lastTime : Date.now() / 1000;
  const lastIdx = run.model.step.length - 1;
  const at = (k: keyof typeof run.model.series) => (lastIdx >= 0 ? run.model.series[k][lastIdx] ?? null : null);
  const mfu = latest(run.model.series.mfu);

  const act = async (what: "stop" | "resume") => {
    setBusy(true);
    setError(null);
    try {
      await post(`${runPath(id)}/${what}`);
      if (what === "stop") setStopSent(true);
      else {
        setStopSent(false);
        setAttempt((a) => a + 1);
      }
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (!detail) return <div>{error ? <ErrorBox error={error} /> : <p class="muted">loading…</p>}</div>;
  const isRunning = summary?.status === "running";
  const canResume = !isRunning && summary?.status !== "done" && (detail.checkpoints.length > 0 || run.model.checkpoints.length > 0);

  return (
    <div>
      <div class="page-head">
        <h1 class="clip">{id}</h1>
        {summary && <StatusBadge s={summary} />}
        <span class="muted small">{run.kind === "live" ? (run.ended ? "live (ended)" : "● live") : run.ended ? "replay of saved events" : "loading saved events…"}</span>
        <div class="actions">
          {isRunning && detail.process && (
            <button class="danger" disabled={busy} onClick={() => act("stop")} data-testid="stop" title="SIGTERM: the run saves a checkpoint, then stops">
              {stopSent ? "Stop now (kill)" : "Stop"}
            </button>
          )}
          {canResume && (
            <button class="primary" disabled={busy} onClick={() => act("resume")} data-testid="resume">
              Resume
            </button>
          )}
        </div>
      </div>
      <ErrorBox error={error ?? run.error} />
      {summary?.error && <ErrorBox error={summary.error} />}
      <pre class="progress-line" data-testid="progress-line">
        {progressLine(p, now)}
      </pre>
      <div class="stats">
        <Stat label="step" testId="step-counter" value={`${p.step}/${p.totalSteps || summary?.total_steps || "?"}`}>
          <Progress step={p.step} total={p.totalSteps || summary?.total_steps || 0} />
        </Stat>
        <Stat label="loss" value={loss(p.loss)} />
        <Stat label="learning rate" value={sci(p.lr)} />
        <Stat label="tokens/s" value={count(p.tokensPerS)} />
        {mfu !== null && <Stat label="MFU" testId="mfu" value={`${(mfu * 100).toFixed(1)}%`} />}
        <Stat label="ETA" value={isRunning ? duration(eta(p)) : "-"} />
        <Stat label="elapsed" value={p.startTime === null ? "-" : duration(now - p.startTime)} />
        <Stat label="peak memory" value={gib(p.memPeakGib || null)} />
        <Stat label="step time" value={at("step_time_s") === null ? "-" : `${at("step_time_s")!.toFixed(3)} s`}>
          {at("data_time_s") !== null && <div class="muted small">data {at("data_time_s")!.toFixed(3)} s</div>}
        </Stat>
      </div>
      <Curves model={run.model} live={run.kind === "live" && !run.ended} />
      <GpuTable gpu={run.model.gpu} live={run.kind === "live" && !run.ended} />
      <div class="grid2">
        <section class="card">
          <h3>Checkpoints</h3>
          {run.model.checkpoints.length === 0 ? (
            <p class="muted">{isRunning ? "none yet" : "none"}</p>
          ) : (
            <ul class="plain" data-testid="checkpoints">
              {run.model.checkpoints.map((c) => (
                <li key={`${c.step}-${c.time}`}>
                  step {c.step} · {bytes(c.size_bytes)} · saved in {c.save_time_s.toFixed(1)} s <span class="muted small">{c.path}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section class="card">
          <h3>Warnings and errors</h3>
          {run.model.warnings.length + run.model.errors.length + run.model.skipped.length === 0 && <p class="muted">none</p>}
          <ul class="plain">
            {run.model.errors.map((e, i) => (
              <li key={`e${i}`} class="err">
                <b>{e.code}</b> rank {e.rank}
                {e.step !== null ? ` at step ${e.step}` : ""}
                {e.phase ? ` (${e.phase})` : ""}: {e.message}
                {e.traceback && (
                  <details>
                    <summary>traceback</summary>
                    <pre>{e.traceback}</pre>
                  </details>
                )}
              </li>
            ))}
            {run.model.warnings.map((w, i) => (
              <li key={`w${i}`} class="warn">
                <b>{w.code}</b> rank {w.rank}: {w.message}
              </li>
            ))}
            {run.model.skipped.map((s, i) => (
              <li key={`s${i}`} class="muted">
                skipped event line: {s}
              </li>
            ))}
          </ul>
        </section>
      </div>
      <Details id={id} detail={detail} />
    </div>
  );
}

function Stat({ label, value, testId, children }: { label: string; value: string; testId?: string; children?: preact.ComponentChildren }) {
  return (
    <div class="stat">
      <div class="muted small">{label}</div>
      <div class="value" data-testid={testId}>
        {value}
      </div>
      {children}
    </div>
  );
}

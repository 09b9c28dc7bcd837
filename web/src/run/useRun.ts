// Feeds a RunSource into a RunModel and re-renders at most once per animation frame.
import { useEffect, useRef, useState } from "preact/hooks";
import type { RunSummary } from "../api.ts";
import { sourceFor } from "../source/index.ts";
import { applyEvent, emptyModel, type RunModel } from "./model.ts";
import { applyGpu } from "./gpu.ts";

export interface RunState {
  model: RunModel;
  status: RunSummary | null;
  kind: "live" | "replay" | null;
  ended: boolean;
  error: string | null;
}

/** `attempt` changes to start over (after resume the run is live again). */
export function useRun(id: string, running: boolean | null, attempt: number): RunState {
  const model = useRef(emptyModel());
  const [, setTick] = useState(0);
  const [status, setStatus] = useState<RunSummary | null>(null);
  const [ended, setEnded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [kind, setKind] = useState<"live" | "replay" | null>(null);
  // The live stream that delivered a run's end already holds every event: when the page then
  // learns the run is no longer running, it keeps what it has instead of clearing the curves and
  // fetching them again (which showed an empty run, "0/N", until the replay arrived).
  const liveEnded = useRef<string | null>(null);

  useEffect(() => {
    if (running === null) return;
    const key = `${id}\u0000${attempt}`;
    if (!running && liveEnded.current === key) return;
    liveEnded.current = null;
    model.current = emptyModel();
    setEnded(false);
    setError(null);
    let frame = 0;
    const redraw = () => {
      if (!frame) frame = requestAnimationFrame(() => ((frame = 0), setTick((t) => t + 1)));
    };
    const source = sourceFor(id, running);
    setKind(source.kind);
    source.start({
      onEvent: (e) => (applyEvent(model.current, e), redraw()),
      onSkipped: (r) => (model.current.skipped.push(r), redraw()),
      onGpu: (samples) => {
        for (const r of samples) applyGpu(model.current.gpu, r);
        redraw();
      },
      onStatus: (s) => setStatus(s),
      onEnd: (s) => {
        if (source.kind === "live") liveEnded.current = key;
        setStatus(s);
        setEnded(true);
      },
      onError: (m) => setError(m),
    });
    return () => {
      source.close();
      cancelAnimationFrame(frame);
    };
  }, [id, running, attempt]);

  return { model: model.current, status, kind, ended, error };
}

// What a run was launched with: the resolved spec, the config as given, the commands, the logs.
import { useState } from "preact/hooks";
import { get, runPath, type RunDetail } from "../api.ts";

export function Details({ id, detail }: { id: string; detail: RunDetail }) {
  const [log, setLog] = useState<{ name: string; text: string } | null>(null);
  const open = (name: string) =>
    get<{ name: string; text: string }>(`${runPath(id)}/logs/${encodeURIComponent(name)}`)
      .then(setLog)
      .catch((e: Error) => setLog({ name, text: e.message }));
  return (
    <section class="card">
      <h3>Launch</h3>
      <div class="muted small">whet command</div>
      <pre class="cmd" data-testid="launch-command">{detail.launch.whet}</pre>
      {detail.launch.torchrun && (
        <>
          <div class="muted small">torchrun command (from spec.json)</div>
          <pre class="cmd">{detail.launch.torchrun}</pre>
        </>
      )}
      <details>
        <summary>Resolved config (spec.json)</summary>
        <pre data-testid="spec">{detail.spec ? JSON.stringify(detail.spec, null, 2) : "not written yet (the run is still preparing, or failed before launch)"}</pre>
      </details>
      <details>
        <summary>Config as given</summary>
        <pre>{detail.config_text ?? "-"}</pre>
      </details>
      {detail.plan && (
        <details>
          <summary>Plan (plan.json)</summary>
          <pre>{JSON.stringify(detail.plan, null, 2)}</pre>
        </details>
      )}
      <div class="logs">
        Logs:{" "}
        {detail.logs.length === 0
          ? "none"
          : detail.logs.map((n) => (
              <button key={n} class="link" onClick={() => open(n)}>
                {n}
              </button>
            ))}
      </div>
      {log && (
        <pre class="log" data-testid="log">
          {log.text || "(empty)"}
        </pre>
      )}
    </section>
  );
}

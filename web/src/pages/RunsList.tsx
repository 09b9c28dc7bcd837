// Every run in the runs folder with its state; refreshed every two seconds. Tick two or more to
// compare them.
import { useEffect, useState } from "preact/hooks";
import { get, type RunSummary } from "../api.ts";
import { ErrorBox, Progress, StatusBadge } from "../components/Status.tsx";
import { count, loss, when } from "../format.ts";

export function RunsList() {
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [picked, setPicked] = useState<string[]>([]);

  useEffect(() => {
    let live = true;
    const load = () =>
      get<{ runs: RunSummary[] }>("/api/runs")
        .then((r) => live && (setRuns(r.runs), setError(null)))
        .catch((e: Error) => live && setError(e.message));
    load();
    const t = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);

  const toggle = (id: string) => setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id]));

  return (
    <div>
      <div class="page-head">
        <h1>Runs</h1>
        <div class="actions">
          <a class={`button ${picked.length < 2 ? "disabled" : ""}`} href={picked.length >= 2 ? `#/compare/${picked.map(encodeURIComponent).join(",")}` : undefined} data-testid="compare">
            Compare {picked.length >= 2 ? picked.length : ""}
          </a>
          <a class="button primary" href="#/new">
            New run
          </a>
        </div>
      </div>
      <ErrorBox error={error} />
      {runs && runs.length === 0 && <p class="muted">No runs yet. Start one with the New run button or `whet train`.</p>}
      {runs && runs.length > 0 && (
        <table class="runs" data-testid="runs-table">
          <thead>
            <tr>
              <th />
              <th>run</th>
              <th>status</th>
              <th>model</th>
              <th>method</th>
              <th>GPUs</th>
              <th>progress</th>
              <th class="num">loss</th>
              <th class="num">tokens/s</th>
              <th>started</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} data-run={r.id}>
                <td>
                  <input type="checkbox" aria-label={`compare ${r.id}`} checked={picked.includes(r.id)} onChange={() => toggle(r.id)} />
                </td>
                <td>
                  <a href={`#/runs/${encodeURIComponent(r.id)}`}>{r.id}</a>
                  {r.error && <div class="muted small clip" title={r.error}>{r.error}</div>}
                </td>
                <td>
                  <StatusBadge s={r} />
                </td>
                <td>{r.model ?? "-"}</td>
                <td>{r.method ?? "-"}</td>
                <td>{r.gpus === null ? "-" : r.device === "cpu" ? `cpu × ${r.gpus}` : r.gpus}</td>
                <td>
                  <Progress step={r.step} total={r.total_steps} />
                </td>
                <td class="num">{loss(r.last_loss)}</td>
                <td class="num">{r.tokens_per_s === null ? "-" : count(r.tokens_per_s)}</td>
                <td class="nowrap">{when(r.started)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

// Two or more runs side by side: their state, where their configs differ, and their loss
// curves on one chart (each run read through the same replay source as its run page).
import { useEffect, useState } from "preact/hooks";
import { get, type RunSummary } from "../api.ts";
import { ReplaySource } from "../source/replay.ts";
import { applyEvent, emptyModel, type RunModel } from "../run/model.ts";
import { Chart, COLORS } from "../components/Chart.tsx";
import { ErrorBox, StatusBadge } from "../components/Status.tsx";
import { count, loss } from "../format.ts";

interface Comparison {
  runs: RunSummary[];
  diff: { key: string; values: (string | null)[] }[];
}

function loadModel(id: string): Promise<RunModel> {
  return new Promise((resolve, reject) => {
    const m = emptyModel();
    new ReplaySource(id, false).start({
      onEvent: (e) => applyEvent(m, e),
      onSkipped: () => undefined,
      onGpu: () => undefined,
      onStatus: () => undefined,
      onEnd: () => resolve(m),
      onError: (msg) => reject(new Error(msg)),
    });
  });
}

/** One shared step axis; each run's loss at its own steps, null elsewhere. */
function align(models: RunModel[]): { x: number[]; ys: (number | null)[][] } {
  const x = [...new Set(models.flatMap((m) => m.step))].sort((a, b) => a - b);
  const ys = models.map((m) => {
    const at = new Map(m.step.map((s, i) => [s, m.series.loss[i] ?? null]));
    return x.map((s) => at.get(s) ?? null);
  });
  return { x, ys };
}

export function Compare({ ids }: { ids: string[] }) {
  const [cmp, setCmp] = useState<Comparison | null>(null);
  const [models, setModels] = useState<RunModel[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    get<Comparison>(`/api/compare?ids=${ids.map(encodeURIComponent).join(",")}`)
      .then(setCmp)
      .catch((e: Error) => setError(e.message));
    Promise.all(ids.map(loadModel))
      .then(setModels)
      .catch((e: Error) => setError(e.message));
  }, [ids.join(",")]);

  const aligned = models ? align(models) : null;
  return (
    <div>
      <div class="page-head">
        <h1>Compare {ids.length} runs</h1>
      </div>
      <ErrorBox error={error} />
      {aligned && (
        <Chart
          title="Loss"
          testId="compare-chart"
          x={aligned.x}
          lines={ids.map((id, i) => ({ label: id, values: aligned.ys[i]!, color: COLORS[i % COLORS.length]! }))}
          height={300}
        />
      )}
      {cmp && (
        <section class="card">
          <h3>Runs</h3>
          <table class="runs">
            <thead>
              <tr>
                <th>run</th>
                <th>status</th>
                <th>model</th>
                <th>method</th>
                <th>steps</th>
                <th class="num">first loss</th>
                <th class="num">last loss</th>
                <th class="num">tokens/s</th>
              </tr>
            </thead>
            <tbody>
              {cmp.runs.map((r, i) => (
                <tr key={r.id}>
                  <td>
                    <span class="swatch" style={{ background: COLORS[i % COLORS.length] }} /> <a href={`#/runs/${encodeURIComponent(r.id)}`}>{r.id}</a>
                  </td>
                  <td>
                    <StatusBadge s={r} />
                  </td>
                  <td>{r.model ?? "-"}</td>
                  <td>{r.method ?? "-"}</td>
                  <td>
                    {r.step}/{r.total_steps}
                  </td>
                  <td class="num">{loss(r.first_loss)}</td>
                  <td class="num">{loss(r.last_loss)}</td>
                  <td class="num">{r.tokens_per_s === null ? "-" : count(r.tokens_per_s)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Config differences (spec.json)</h3>
          {cmp.diff.length === 0 ? (
            <p class="muted">The resolved configs are the same.</p>
          ) : (
            <table class="diff" data-testid="config-diff">
              <thead>
                <tr>
                  <th>key</th>
                  {cmp.runs.map((r) => (
                    <th key={r.id} class="clip">
                      {r.id}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {cmp.diff.map((d) => (
                  <tr key={d.key}>
                    <td>
                      <code>{d.key}</code>
                    </td>
                    {d.values.map((v, i) => (
                      <td key={i}>
                        <code>{v ?? "—"}</code>
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </div>
  );
}

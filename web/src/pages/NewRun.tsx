// A new run: a form over the config schema, checked by the server's real config loader as you
// type, a rendered sample with its loss mask, the predicted memory per GPU, then launch.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, get, post, type Problem } from "../api.ts";
import { ErrorBox } from "../components/Status.tsx";
import { Field } from "./new/Field.tsx";
import { fieldsOf, type FieldDef } from "./new/schema.ts";
import { MemoryPlan, SamplePreview, type Sample } from "./new/Preview.tsx";

interface Checked {
  ok: boolean;
  problems: Problem[];
  warnings: Problem[];
  yaml: string;
}

export function NewRun() {
  const [defs, setDefs] = useState<FieldDef[] | null>(null);
  const [fields, setFields] = useState<Record<string, unknown>>({});
  const [common, setCommon] = useState<string[]>([]);
  const [name, setName] = useState("");
  const [checked, setChecked] = useState<Checked | null>(null);
  const [sample, setSample] = useState<Sample | null>(null);
  const [plan, setPlan] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const seq = useRef(0);

  useEffect(() => {
    Promise.all([get<any>("/api/config/schema"), get<{ fields: Record<string, unknown> }>("/api/config/template")])
      .then(([schema, t]) => {
        setDefs(fieldsOf(schema));
        setFields(t.fields);
        setCommon(Object.keys(t.fields));
      })
      .catch((e: Error) => setError(e.message));
  }, []);

  // Validate shortly after each change; only the newest answer counts.
  useEffect(() => {
    if (!defs) return;
    const n = ++seq.current;
    const t = setTimeout(() => {
      post<Checked>("/api/config/validate", { fields })
        .then((c) => n === seq.current && setChecked(c))
        .catch((e: Error) => setError(e.message));
    }, 300);
    return () => clearTimeout(t);
  }, [fields, defs]);

  const byKey = useMemo(() => {
    const m: Record<string, string[]> = {};
    for (const p of checked?.problems ?? []) if (p.key) (m[p.key] ??= []).push(p.message);
    return m;
  }, [checked]);
  const general = (checked?.problems ?? []).filter((p) => !p.key || !defs?.some((d) => d.key === p.key));

  const set = (key: string, v: unknown) => {
    setFields((f) => {
      const next = { ...f };
      if (v === undefined) delete next[key];
      else next[key] = v;
      return next;
    });
    setSample(null);
    setPlan(null);
  };

  const call = async (path: string, then: (r: any) => void) => {
    setBusy(true);
    setError(null);
    try {
      then(await post(path, { fields, name }));
    } catch (e) {
      const err = e as ApiError;
      setError(err.details?.problems ? `${err.message} See the fields marked in red.` : err.message);
    } finally {
      setBusy(false);
    }
  };

  if (!defs) return error ? <ErrorBox error={error} /> : <p class="muted">loading the config schema…</p>;
  const main = defs.filter((d) => common.includes(d.key) || d.required);
  const rest = defs.filter((d) => !main.includes(d));
  const extra = Object.keys(fields).filter((k) => !defs.some((d) => d.key === k));

  return (
    <div class="new-run">
      <div class="page-head">
        <h1>New run</h1>
      </div>
      <ErrorBox error={error} />
      <div class="grid2 wide-left">
        <form class="card" onSubmit={(e) => e.preventDefault()} data-testid="config-form">
          <div class="field">
            <label for="run-name">run name</label>
            <input id="run-name" type="text" value={name} placeholder="optional: becomes part of the run id" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </div>
          {main.map((d) => (
            <Field key={d.key} def={d} value={fields[d.key]} problems={byKey[d.key] ?? []} onChange={(v) => set(d.key, v)} />
          ))}
          <details>
            <summary>All options ({rest.length})</summary>
            {rest.map((d) => (
              <Field key={d.key} def={d} value={fields[d.key]} problems={byKey[d.key] ?? []} onChange={(v) => set(d.key, v)} />
            ))}
          </details>
          {extra.length > 0 && <p class="muted small">Also set: {extra.join(", ")}</p>}
        </form>
        <div>
          <section class="card">
            <h3>Check</h3>
            {!checked && <p class="muted">checking…</p>}
            {checked?.ok && <p class="ok" data-testid="valid">The config is valid.</p>}
            {general.map((p) => (
              <div class="problem" key={`${p.where}${p.message}`}>
                {p.where ? `${p.where}: ` : ""}
                {p.message}
              </div>
            ))}
            {checked?.warnings.map((w) => (
              <div class="warn" key={w.message}>
                warning: {w.where ? `${w.where}: ` : ""}
                {w.message}
              </div>
            ))}
            <div class="actions">
              <button disabled={busy || !checked?.ok} onClick={() => call("/api/config/inspect", setSample)} data-testid="show-sample">
                Show a sample
              </button>
              <button disabled={busy || !checked?.ok} onClick={() => call("/api/config/plan", setPlan)} data-testid="predict-memory">
                Predict memory
              </button>
              <button
                class="primary"
                disabled={busy || !checked?.ok}
                data-testid="launch"
                onClick={() => call("/api/runs", (r: { id: string }) => (location.hash = `#/runs/${encodeURIComponent(r.id)}`))}
              >
                Launch
              </button>
            </div>
          </section>
          {sample && (
            <section class="card">
              <h3>Sample and loss mask</h3>
              <SamplePreview sample={sample} />
            </section>
          )}
          {plan && (
            <section class="card">
              <h3>Predicted memory per GPU</h3>
              <MemoryPlan plan={plan} />
            </section>
          )}
          <section class="card">
            <h3>config.yaml</h3>
            <pre class="yaml" data-testid="yaml">{checked?.yaml ?? ""}</pre>
          </section>
        </div>
      </div>
    </div>
  );
}

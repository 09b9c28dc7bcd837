import type { RunSummary } from "../api.ts";

export function StatusBadge({ s }: { s: Pick<RunSummary, "status" | "status_reason"> }) {
  return (
    <span class={`badge ${s.status}`} title={s.status_reason} data-testid="status">
      {s.status}
    </span>
  );
}

export function ErrorBox({ error }: { error: string | null }) {
  return error ? <div class="error-box" role="alert">{error}</div> : null;
}

export function Progress({ step, total }: { step: number; total: number }) {
  const pct = total > 0 ? Math.min(100, (100 * step) / total) : 0;
  return (
    <span class="progress" title={`${step}/${total}`}>
      <span class="bar" style={{ width: `${pct}%` }} />
      <span class="label">
        {step}/{total || "?"}
      </span>
    </span>
  );
}

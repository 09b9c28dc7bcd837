// The sample as the model will see it (trained tokens highlighted) and the predicted memory.
export interface Sample {
  title: string;
  segments: { text: string; trained: boolean }[];
  summary: string;
}

export function SamplePreview({ sample }: { sample: Sample }) {
  return (
    <div data-testid="sample">
      <div class="muted small">{sample.title}</div>
      <pre class="sample">
        {sample.segments.map((s, i) => (
          <span key={i} class={s.trained ? "trained" : "prompt"}>
            {s.text}
          </span>
        ))}
      </pre>
      <div class="muted small">{sample.summary} · highlighted text carries loss</div>
    </div>
  );
}

const COMPONENTS = ["weights", "gradients", "optimizer", "activations", "logits", "buffers", "overhead"];

export function MemoryPlan({ plan }: { plan: any }) {
  const peak = plan.per_gpu.peak_gib as number;
  return (
    <div data-testid="memory-plan">
      <p>
        <b>{peak.toFixed(2)} GiB</b> per GPU at the peak ({plan.phase}) of {plan.gpu_memory_gib} GiB:{" "}
        <span class={plan.fits ? "ok" : "err"}>{plan.fits ? `fits with a ${Math.round(plan.margin * 100)}% margin` : "does not fit"}</span>
      </p>
      <table class="breakdown">
        <tbody>
          {COMPONENTS.map((c) => {
            const v = plan.per_gpu[`${c}_gib`] as number;
            return (
              <tr key={c}>
                <td>{c}</td>
                <td class="num">{v.toFixed(2)} GiB</td>
                <td class="barcell">
                  <span class="hbar" style={{ width: `${peak > 0 ? (100 * v) / peak : 0}%` }} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {plan.notes?.map((n: string) => (
        <div class="muted small" key={n}>
          note: {n}
        </div>
      ))}
    </div>
  );
}

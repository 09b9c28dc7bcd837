import { useEffect, useState } from "preact/hooks";
import type { FieldDef } from "./schema.ts";
import { parseValue, showValue } from "./schema.ts";

interface Props {
  def: FieldDef;
  value: unknown;
  problems: string[];
  onChange(v: unknown): void;
}

export function Field({ def, value, problems, onChange }: Props) {
  const id = `f-${def.key}`;
  // The text as typed ("0.00" stays "0.00" while its value is 0); replaced when the value changes elsewhere.
  const [text, setText] = useState(showValue(def.kind, value));
  useEffect(() => {
    if (JSON.stringify(parseValue(def.kind, text)) !== JSON.stringify(value)) setText(showValue(def.kind, value));
  }, [value]);
  const placeholder = def.default === undefined ? "" : `default: ${showValue(def.kind === "json" ? "json" : "string", def.default)}`;
  let input;
  if (def.kind === "boolean") {
    const v = value === undefined ? Boolean(def.default) : Boolean(value);
    input = <input id={id} name={def.key} type="checkbox" checked={v} onChange={(e) => onChange((e.target as HTMLInputElement).checked)} />;
  } else if (def.kind === "enum") {
    input = (
      <select id={id} name={def.key} value={value === undefined ? "" : String(value)} onChange={(e) => onChange((e.target as HTMLSelectElement).value || undefined)}>
        <option value="">{def.default === undefined ? "(not set)" : `default (${String(def.default)})`}</option>
        {def.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  } else {
    input = (
      <input
        id={id}
        name={def.key}
        type="text"
        value={text}
        placeholder={placeholder}
        onInput={(e) => {
          const t = (e.target as HTMLInputElement).value;
          setText(t);
          onChange(parseValue(def.kind, t));
        }}
      />
    );
  }
  return (
    <div class={`field ${problems.length ? "bad" : ""}`} data-field={def.key}>
      <label for={id}>
        {def.key}
        {def.required && <span class="req"> *</span>}
      </label>
      {input}
      {def.description && <div class="help">{def.description}</div>}
      {problems.map((p) => (
        <div class="problem" key={p}>
          {p}
        </div>
      ))}
    </div>
  );
}

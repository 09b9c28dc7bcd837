// The config's JSON Schema: whetstone's keys plus the LLaMA-Factory keys it accepts, for editors
// (schema/config.schema.json, pinned by schema.test.ts) and as the one source help.ts and the
// error messages read types, defaults and examples from. "input" view: keys with defaults are optional.
import { z } from "zod";
import { RunConfigSchema } from "./schema.ts";
import { IGNORED, UNSUPPORTED } from "./compat-keys.ts";

export interface JsonProperty {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonProperty[];
  default?: unknown;
  examples?: unknown[];
  description?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  exclusiveMaximum?: number;
}

const compat = {
  ...Object.fromEntries(Object.entries(IGNORED).map(([k, v]) => [k, z.unknown().optional().describe(`LLaMA-Factory key, accepted and ignored: ${v.text}.`)])),
  ...Object.fromEntries(
    Object.entries(UNSUPPORTED).map(([k, v]) => [k, z.unknown().optional().describe(`Not supported yet (a warning): ${v.text}.`).meta({ deprecated: true })]),
  ),
};

export const ConfigFileSchema = RunConfigSchema.extend(compat);

type ConfigJsonSchema = Record<string, unknown> & { properties: Record<string, JsonProperty> };

export function configJsonSchema(): ConfigJsonSchema {
  const json = z.toJSONSchema(ConfigFileSchema, { target: "draft-2020-12", io: "input" }) as unknown as ConfigJsonSchema;
  return { title: "Whetstone run config", ...json };
}

/** The text of schema/config.schema.json. */
export function renderConfigSchema(): string {
  return JSON.stringify(configJsonSchema(), null, 2) + "\n";
}

let cached: Record<string, JsonProperty> | undefined;
/** JSON Schema of one of whetstone's own keys (undefined for others). */
export function propertyOf(key: string): JsonProperty | undefined {
  cached ??= configJsonSchema().properties;
  return key in RunConfigSchema.shape ? cached[key] : undefined;
}

// The JSON Schemas committed under schema/, generated from the zod schemas.
import { z } from "zod";
import { RunSpec } from "./runspec.ts";
import { WhetEvent } from "../events/schema.ts";
import { renderConfigSchema } from "../config/json-schema.ts";

function render(schema: z.ZodType, title: string): string {
  const json = z.toJSONSchema(schema, { target: "draft-2020-12" }) as Record<string, unknown>;
  return JSON.stringify({ title, ...json }, null, 2) + "\n";
}

export function generatedSchemas(): Record<string, string> {
  return {
    "runspec.schema.json": render(RunSpec, "Whetstone RunSpec"),
    "events.schema.json": render(WhetEvent, "Whetstone worker event"),
    "config.schema.json": renderConfigSchema(),
  };
}

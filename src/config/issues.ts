// Turns zod's issues into whetstone's messages: what is wrong, then how to fix it, with an
// example value taken from the JSON Schema (examples, else the default, else the bound).
import type { z } from "zod";
import { closest } from "./suggest.ts";
import { propertyOf, type JsonProperty } from "./json-schema.ts";
import { REQUIRED_HINT } from "./schema.ts";

export interface KeyProblem {
  key: string;
  message: string;
  /** An unknown key (the only kind of problem that may come from a typo alone). */
  unknown?: boolean;
}

/** A value as the user would recognise it in a message. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "a list";
  if (v !== null && typeof v === "object") return "a mapping";
  return String(v);
}

export function formatNumber(v: number): string {
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential() : String(v);
}

function example(p: JsonProperty | undefined): unknown {
  const branch = p?.anyOf?.find((b) => b.type === "integer" || b.type === "number");
  return p?.examples?.[0] ?? p?.default ?? branch?.examples?.[0] ?? p?.minimum ?? 1;
}

function showExample(v: unknown): string {
  return typeof v === "number" ? formatNumber(v) : String(v);
}

/** "an integer", "true or false", "an integer or \"auto\"", ... */
export function describeType(p: JsonProperty | undefined): string {
  if (!p) return "a value";
  if (p.anyOf) return p.anyOf.map(describeType).join(" or ");
  if (p.const !== undefined) return JSON.stringify(p.const);
  if (p.enum) return `one of ${p.enum.join(", ")}`;
  switch (p.type) {
    case "integer": return "an integer";
    case "number": return "a number";
    case "boolean": return "true or false";
    case "string": return "text";
    case "object": return "a mapping";
    default: return "a value";
  }
}

function howToFix(key: string, p: JsonProperty | undefined): string {
  if (p?.anyOf) return `Use ${key}: ${showExample(p.default ?? example(p))} or a value like ${showExample(example(p))}.`;
  switch (p?.type) {
    case "integer": return `Use a whole number like ${showExample(example(p))}.`;
    case "number": return `Use a number like ${showExample(example(p))}.`;
    case "boolean": return "Use true or false.";
    case "string": return `Quote it: ${key}: "...".`;
    case "object": return `Write it as a mapping, for example ${key}: {name: value}.`;
    default: return "Check the value.";
  }
}

function bound(issue: { minimum?: unknown; maximum?: unknown; inclusive?: boolean }, small: boolean): string {
  const n = Number(small ? issue.minimum : issue.maximum);
  if (small) return issue.inclusive ? `at least ${formatNumber(n)}` : `greater than ${formatNumber(n)}`;
  return issue.inclusive ? `at most ${formatNumber(n)}` : `less than ${formatNumber(n)}`;
}

/** One message per zod issue; `value` is what the user wrote at the issue's top-level key. */
export function issueProblem(issue: z.core.$ZodIssue, data: Record<string, unknown>): KeyProblem {
  const key = issue.path.map(String).join(".");
  const top = String(issue.path[0] ?? "");
  const p = propertyOf(top);
  const value = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey], data);
  if (value === undefined && issue.path.length === 1) {
    return { key, message: `is required. Add ${key}: ${REQUIRED_HINT[key] ?? "<value>"}.` };
  }
  switch (issue.code) {
    case "invalid_value": {
      const allowed = issue.values.map(String);
      const near = typeof value === "string" ? closest(value, allowed) : undefined;
      return { key, message: `is ${show(value)}, not one of ${allowed.join(", ")}. ${near ? `Did you mean ${near}?` : "Use one of those."}` };
    }
    case "too_small":
    case "too_big": {
      if (typeof value === "string") return { key, message: `is empty. Give ${key} a value or remove the key.` };
      const small = issue.code === "too_small";
      return { key, message: `must be ${bound(issue, small)}, got ${show(value)}. ${howToFix(top, p)}` };
    }
    case "invalid_type":
      if (issue.path.length > 1) return { key, message: `expected text, got ${show(value)}. Quote it.` };
      return { key, message: `expected ${describeType(p)}, got ${show(value)}. ${howToFix(top, p)}` };
    default:
      return { key, message: `expected ${describeType(p)}, got ${show(value)}. ${howToFix(top, p)}` };
  }
}

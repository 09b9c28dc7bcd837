// `whet train run.yaml learning_rate=1e-4 max_steps=10`: command-line values, each read as a
// YAML scalar (so 1e-4 is a number, true a boolean, and `key=` means "the default").
import { parse } from "yaml";
import type { Problem } from "../errors.ts";

export const COMMAND_LINE = "<command line>";

export interface Overrides {
  values: Record<string, unknown>;
  errors: Problem[];
}

export function parseOverrides(args: readonly string[]): Overrides {
  const values: Record<string, unknown> = {};
  const errors: Problem[] = [];
  for (const arg of args) {
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq).trim();
    if (eq < 0 || !/^[A-Za-z_][\w]*$/.test(key)) {
      errors.push({ where: `${COMMAND_LINE} ${arg}`, message: "is not key=value. Write overrides as key=value, like max_steps=10." });
      continue;
    }
    try {
      values[key] = parse(arg.slice(eq + 1));
    } catch (e) {
      const why = (e as Error).message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      errors.push({ where: `${COMMAND_LINE} ${key}`, message: `is not a valid YAML value (${why}). Quote it, like ${key}='"text"'.` });
    }
  }
  return { values, errors };
}

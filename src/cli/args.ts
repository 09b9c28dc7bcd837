// Option parsing for every command: node's parseArgs, with a user error instead of a stack.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { WhetError } from "../errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<O extends Options>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new WhetError("USAGE", `${(e as Error).message.replace(/\.$/, "")}. Run 'whet ${command} --help' for the options.`);
  }
}

export function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new WhetError("USAGE", [{ where: `--${name}`, message: `expected a whole number, got "${value}".` }]);
  return n;
}

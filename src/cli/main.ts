// The CLI's one entry point and its one top-level catch: a WhetError is already explained and
// prints briefly; anything else is a bug and prints its stack with a hint to report it.
import { WhetError, isWhetError, renderProblem } from "../errors.ts";
import { commands, type Command } from "./commands/index.ts";

const HELP = `whet: fine-tune large language models on one GPU, many GPUs or many machines.

Usage: whet <command> [options]

Commands:
${"{commands}"}

Run 'whet <command> --help' for a command's options.`;

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return HELP.replace("{commands}", lines.join("\n"));
}

function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  // Longest match first, so "data inspect" wins over "data".
  for (let n = Math.min(2, argv.length); n >= 1; n--) {
    const name = argv.slice(0, n).join(" ");
    const command = commands.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(n) };
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    process.stdout.write(usage() + "\n");
    return 0;
  }
  if (argv[0] === "--version") {
    process.stdout.write("whet 0.1.0\n");
    return 0;
  }
  try {
    const found = findCommand(argv);
    if (!found) throw new WhetError("USAGE", `'${argv.join(" ")}' is not a whet command. Run 'whet --help' for the list.`);
    if (found.rest.includes("--help") || found.rest.includes("-h")) {
      process.stdout.write(found.command.help() + "\n");
      return 0;
    }
    return await found.command.run(found.rest);
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (isWhetError(e)) {
    const lines = e.problems.map(renderProblem);
    process.stderr.write(`error: ${lines.length > 1 ? "\n  " + lines.join("\n  ") : lines[0]}\n`);
    return e.exitCode;
  }
  const stack = e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`internal error: this is a bug in whet, not in your input.\n${stack}\n`);
  process.stderr.write("Please report it with the command you ran and the output above.\n");
  return 70;
}

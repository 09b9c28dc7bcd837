// Every command, one module each.
import { trainCommand } from "./train.ts";
import { dataInspectCommand } from "./data-inspect.ts";

export interface Command {
  name: string;
  summary: string;
  help(): string;
  run(argv: string[]): Promise<number>;
}

export const commands: Command[] = [trainCommand, dataInspectCommand];

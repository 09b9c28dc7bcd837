// Every command, one module each.
import { trainCommand } from "./train.ts";
import { dataInspectCommand } from "./data-inspect.ts";
import { launchSlurmCommand } from "./launch-slurm.ts";
import { planCommand } from "./plan.ts";

export interface Command {
  name: string;
  summary: string;
  help(): string;
  run(argv: string[]): Promise<number>;
}

export const commands: Command[] = [trainCommand, planCommand, dataInspectCommand, launchSlurmCommand];

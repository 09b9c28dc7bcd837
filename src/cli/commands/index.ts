// Every command, one module each.
import { trainCommand } from "./train.ts";
import { dataInspectCommand } from "./data-inspect.ts";
import { launchSlurmCommand } from "./launch-slurm.ts";
import { planCommand } from "./plan.ts";
import { doctorCommand } from "./doctor.ts";
import { importCommand } from "./import.ts";
import { uiCommand } from "./ui.ts";
import { watchCommand } from "./watch.ts";
import { chatCommand } from "./chat.ts";

export interface Command {
  name: string;
  summary: string;
  help(): string;
  run(argv: string[]): Promise<number>;
}

export const commands: Command[] = [trainCommand, planCommand, dataInspectCommand, doctorCommand, importCommand, uiCommand, watchCommand, launchSlurmCommand, chatCommand];

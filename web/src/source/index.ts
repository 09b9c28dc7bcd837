import { LiveSource } from "./live.ts";
import { ReplaySource } from "./replay.ts";
import type { RunSource } from "./types.ts";

export type { RunSource, SourceHandlers } from "./types.ts";

/** Live while the run goes on, replay once it has ended. */
export function sourceFor(id: string, running: boolean): RunSource {
  return running ? new LiveSource(id) : new ReplaySource(id);
}

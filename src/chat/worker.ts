// The chat worker (python -m whet_worker chat): one long-lived process that holds the model.
// Requests and replies are NDJSON lines (worker/whet_worker/chat.py). States: starting -> ready
// -> generating -> ready ... -> closed; a worker that dies is reported with its exit code and
// the end of its stderr.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { workerEnv } from "../launch/python.ts";
import { WhetError } from "../errors.ts";

export interface ChatWorkerOptions {
  python: string;
  model: string;
  /** The base model folder, when `model` is a LoRA adapter folder. */
  baseModel?: string;
  device?: "auto" | "cpu" | "cuda";
}

export interface GenerateRequest {
  inputIds: number[];
  maxNewTokens: number;
  stopIds: number[];
  temperature?: number;
}

export interface GenerateResult {
  ids: number[];
  reason: "stop" | "length";
}

type Reply =
  | { type: "ready"; device: string; dtype: string }
  | { type: "token"; id: number }
  | { type: "end"; reason: "stop" | "length"; new_tokens: number }
  | { type: "error"; code: string; message: string };

export class ChatWorker {
  private child: ChildProcessWithoutNullStreams;
  private stderr = "";
  private waiting: ((r: Reply | undefined) => void) | undefined;
  private queue: Reply[] = [];
  private exited = false;
  private exitNote = "";

  constructor(opts: ChatWorkerOptions) {
    const args = ["-m", "whet_worker", "chat", "--model", opts.model, "--device", opts.device ?? "auto"];
    if (opts.baseModel) args.push("--base-model", opts.baseModel);
    this.child = spawn(opts.python, args, { env: workerEnv({ TRANSFORMERS_VERBOSITY: "error" }), stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    this.child.on("error", (e) => this.finish(`could not be started (${e.message})`));
    this.child.on("exit", (code, signal) => this.finish(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      let r: Reply;
      try {
        r = JSON.parse(line) as Reply;
      } catch {
        this.stderr = (this.stderr + line + "\n").slice(-8000);
        return;
      }
      this.push(r);
    });
  }

  private push(r: Reply | undefined): void {
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w(r);
    } else if (r) this.queue.push(r);
  }

  private finish(note: string): void {
    if (this.exited) return;
    this.exited = true;
    this.exitNote = note;
    this.push(undefined);
  }

  private next(): Promise<Reply | undefined> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    if (this.exited) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  private failure(r: Reply | undefined): WhetError {
    if (r?.type === "error") {
      return new WhetError(r.code === "MODEL_INVALID" ? "MODEL_INVALID" : "WORKER_FAILED", [{ where: "chat worker", message: r.message }]);
    }
    const tail = this.stderr.trim().split("\n").slice(-6).join("\n    ");
    return new WhetError("WORKER_FAILED", [
      { where: "chat worker", message: `${this.exitNote || "stopped answering"}${tail ? `; its last output:\n    ${tail}` : "."}` },
    ]);
  }

  /** Resolves once the model is loaded. */
  async ready(): Promise<{ device: string; dtype: string }> {
    const r = await this.next();
    if (r?.type !== "ready") throw this.failure(r);
    return { device: r.device, dtype: r.dtype };
  }

  /** Generates one answer; onToken sees every new id as it arrives. */
  async generate(req: GenerateRequest, onToken: (id: number) => void): Promise<GenerateResult> {
    this.child.stdin.write(
      JSON.stringify({ input_ids: req.inputIds, max_new_tokens: req.maxNewTokens, stop_ids: req.stopIds, temperature: req.temperature ?? 0 }) + "\n",
    );
    const ids: number[] = [];
    for (;;) {
      const r = await this.next();
      if (r?.type === "token") {
        ids.push(r.id);
        onToken(r.id);
      } else if (r?.type === "end") return { ids, reason: r.reason };
      else throw this.failure(r);
    }
  }

  /** Ends the worker: stdin closed is its signal to exit; a kill if it does not. */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }
}

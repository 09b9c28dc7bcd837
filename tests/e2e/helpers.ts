// Shared by the end-to-end tests: a tiny Llama-shaped model folder with the SmolLM2 tokenizer
// (read from ../shared/data at test time, never stored in the repo), and a way to run the CLI.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REPO = new URL("../../", import.meta.url).pathname;
export const SHARED = process.env.WHET_SHARED_DATA ?? join(REPO, "..", "shared", "data");
export const TOKENIZER = join(SHARED, "tokenizers", "SmolLM2-135M-Instruct");
export const ALPACA = join(SHARED, "llamafactory", "alpaca_en_demo.json");

export function tempDir(prefix = "whet-e2e-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A model folder: config.json of a tiny Llama plus the SmolLM2 tokenizer files. No weights. */
export function tinyModel(dir: string, extra: Record<string, unknown> = {}): string {
  const model = join(dir, "tiny-model");
  mkdirSync(model, { recursive: true });
  for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]) {
    copyFileSync(join(TOKENIZER, f), join(model, f));
  }
  writeFileSync(
    join(model, "config.json"),
    JSON.stringify({
      architectures: ["LlamaForCausalLM"], model_type: "llama", vocab_size: 49152, hidden_size: 64,
      intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
      max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
      hidden_act: "silu", bos_token_id: 1, eos_token_id: 2, pad_token_id: 2, torch_dtype: "float32",
      ...extra,
    }),
  );
  return model;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function whet(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, "bin", "whet.js"), ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 300_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function python(): string {
  return process.env.WHET_PYTHON ?? join(REPO, ".venv", "bin", "python");
}

"""Scaling on one host: weak scaling through `whet train`, a 32B shape, resuming on other GPU counts, a killed rank.

One file on purpose: it is copied to a bare multi-GPU machine and run there alone, and every case
shares one runner (launch, event reading, stop-after-last-step, incremental JSON) and one record
layout; the parts are sections below rather than modules of the product.

One invocation writes ONE JSON file (--out, default $OUT/scaling.json), rewritten after every run, so a
call cut short by --budget-s, by a per-run timeout or from outside still leaves what it measured.
Hardware, versions, the command line and every run's exact command come with it.

Cases (--cases, comma separated; default 8b-full-zero3,8b-lora-ddp,32b-lora,32b-full-offload,resume,kill-rank):

  8b-full-zero3     Llama-3-8B shape, full fine-tuning, sharding zero3 (FSDP2), full activation checkpointing,
                    micro-batch 1 x 2048 packed tokens, accumulation 4: 8192 tokens per GPU per step.
  8b-lora-ddp       the same shape, LoRA r8 on every linear layer, DDP, no checkpointing, micro-batch 2,
                    accumulation 2: 8192 tokens per GPU per step.
                    Both run on every N of --gpus with the same per-GPU micro-batch and accumulation (the global
                    batch grows with N): tokens/s per GPU, weak-scaling efficiency against N=1 and N=2, MFU, peak
                    memory per GPU, the step's time split (fwd+bwd, optimizer, comm wait) and `whet plan`'s
                    prediction for that N. With --sides whet,baseline the Hugging Face Trainer baseline of
                    bench/speed.py (LLaMA-Factory's settings; under torchrun it is DDP) trains the same rows of
                    the same token shard on the same N GPUs.
  32b-lora          hidden 5120, 64 layers, 40 heads, 8 KV heads, MLP 27648, vocab 152064 (Qwen2.5-32B's shape,
                    Llama architecture), LoRA, DDP, full checkpointing, on the largest N (--big-gpus).
  32b-full-offload  the same shape, full fine-tuning, zero3 with the optimizer offloaded to host memory
                    (params+optimizer when the planner says optimizer offload does not fit the GPUs); skipped with
                    the planner's numbers when the host RAM it needs is not there. 32b-full-zero3 (not default)
                    is the same without offload.
  resume            (also resume-4-to-2-8) a zero3 run on --resume-from GPUs (default 4), uninterrupted, and
                    once more stopped after its checkpoint at step max_steps/2 (WHET_FAULT exit on rank 0 at the
                    next step; --resume-stop sigterm: SIGTERM to whet; --resume-stop none: no second run, the
                    uninterrupted run's checkpoint at half is the one continued); the stopped run's folder is copied
                    (checkpoint files hard-linked) once per --resume-to count (default 2,8) and continued there
                    with `auto_resume: true` (the same output_dir, the new --nproc; `whet train --resume RUN`
                    keeps the run's own process count). The global batch is kept (global_batch_size), so the
                    losses after the checkpoint must equal the uninterrupted run's: the relative difference
                    per step is recorded against --resume-rtol (CPU float32 1e-4, GPU bf16 1e-2).
  kill-rank         a zero3 run on --kill-nproc GPUs: the last rank SIGKILLed from outside half a step after
                    the step after its checkpoint was reported (no auto_resume: the supervisor's message, exit
                    code, the seconds it took to stop and whether any rank was left running), then a run with
                    WHET_FAULT=exit:<last rank>:<step> and auto_resume: true (the restart and its end).

Every run is `node bin/whet.js train CONFIG key=value... --json --nproc N --max-retries 0 --force` with
CUDA_VISIBLE_DEVICES=0..N-1, on a random-init model (config.json and SmolLM2's tokenizer files from the shared
data folder, no weights) and a synthetic chat dataset written here; its NDJSON step events are read from stdout.
A run whose last step was reported is stopped there (whet, then its ranks, SIGKILLed), so no run pays for the
export. The first --warmup steps (compiled blocks) are left out of tokens/s. Counts run in the order given
(--gpus 1,2,8,4 measures 8 before 4), whet runs before baselines, so a budget cuts what matters least.

  . bench/device/unpack.sh && export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
  python3 bench/scaling.py --out $OUT --budget-s 540                                  # every case
  python3 bench/scaling.py --out $OUT --cases 8b-full-zero3,8b-lora-ddp --sides whet,baseline --budget-s 540
  python3 bench/scaling.py --dry-run                                                  # commands, configs, estimates
  python3 bench/scaling.py --device cpu --out /tmp/scaling.json                       # the same plumbing, tiny model

--device cpu runs every case on a tiny model with gloo processes (`--device cpu --nproc N`), N from --gpus
(default 1,2), resuming from 2 processes onto 1, killing a rank of 2.
"""

import argparse
import datetime
import json
import os
import queue
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

STARTED = time.time()
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record import hardware, versions, write_json  # noqa: E402
SPEED = os.path.join(REPO, "bench", "speed.py")
GIB = float(1 << 30)
TOKENIZER = "SmolLM2-135M-Instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

# config.json fields (bench/calibrate-memory.ts modelConfigJson's defaults, then the shape)
BASE_MODEL = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "rms_norm_eps": 1e-5,
              "rope_theta": 500000, "max_position_embeddings": 8192, "attention_bias": False, "mlp_bias": False,
              "attention_dropout": 0, "torch_dtype": "bfloat16"}
SHAPES = {
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False),
    "32b": dict(hidden_size=5120, num_hidden_layers=64, num_attention_heads=40, num_key_value_heads=8,
                intermediate_size=27648, vocab_size=152064, tie_word_embeddings=False, rope_theta=1000000,
                max_position_embeddings=32768),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=8192, vocab_size=128256, tie_word_embeddings=True),
    # the CPU: the tokenizer's vocabulary, a few thousand parameters per layer
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128, vocab_size=49152, tie_word_embeddings=True, rope_theta=10000,
                 max_position_embeddings=2048, torch_dtype="float32"),
}
LORA_KEYS = {"lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0, "lora_target": "all"}  # = bench/speed.py's LORA
FULL = {"finetuning_type": "full"}
LORA = {"finetuning_type": "lora", **LORA_KEYS}

NO_FULL_32B = ("not run: the baseline's full fine-tuning is pure-bfloat16 DDP (bench/speed.py), ~8 bytes per parameter "
               "on every GPU, ~240 GiB at 32B")

# kind: weak (every N of --gpus), big (--big-gpus), resume, kill. est_s: rough wall seconds of one run on
# H200s (launch, the quick doctor for N > 1, model build, compile, the steps), for --dry-run's estimate.
CASES = {
    "8b-full-zero3": dict(kind="weak", shape="8b", keys={**FULL, "sharding": "zero3", "offload": "none",
                                                         "gradient_checkpointing": "full"},
                          mb=1, acc=4, lr=1e-5, est_s=45),
    "8b-lora-ddp": dict(kind="weak", shape="8b", keys={**LORA, "sharding": "ddp", "gradient_checkpointing": "none"},
                        mb=2, acc=2, lr=1e-4, est_s=60),
    "32b-lora": dict(kind="big", shape="32b", keys={**LORA, "sharding": "ddp", "gradient_checkpointing": "full"},
                     mb=1, acc=2, lr=1e-4, est_s=100),
    "32b-full-offload": dict(kind="big", shape="32b", keys={**FULL, "sharding": "zero3", "offload": "optimizer",
                                                            "gradient_checkpointing": "full"},
                             mb=1, acc=2, lr=1e-5, offload_fallback="params+optimizer", est_s=180, timeout_s=480,
                             baseline=NO_FULL_32B),
    "32b-full-zero3": dict(kind="big", shape="32b", keys={**FULL, "sharding": "zero3", "offload": "none",
                                                          "gradient_checkpointing": "full"},
                           mb=1, acc=2, lr=1e-5, est_s=150, baseline=NO_FULL_32B),
    "resume": dict(kind="resume", shape="1b", keys={**FULL, "sharding": "zero3", "offload": "none",
                                                    "gradient_checkpointing": "full", "torch_compile": False},
                   mb=1, global_batch=8, lr=1e-5, est_s=45),
    "kill-rank": dict(kind="kill", shape="1b", keys={**FULL, "sharding": "zero3", "offload": "none",
                                                     "gradient_checkpointing": "full", "torch_compile": False},
                      mb=1, acc=8, lr=1e-5, est_s=45),
}
ALIASES = {"resume-4-to-2-8": "resume"}
DEFAULT_CASES = "8b-full-zero3,8b-lora-ddp,32b-lora,32b-full-offload,resume,kill-rank"
GOALS = {"1->2": 0.95, "2->8": 0.90}  # weak-scaling efficiency, tokens/s per GPU


# ---------------------------------------------------------------------------------------------
# files: model folders, data, configs


def model_config(shape: str) -> dict:
    return {**BASE_MODEL, **SHAPES[shape]}


def write_model(work: str, shape: str, shared: str) -> str:
    """config.json (random_init: no weights) and the tokenizer files, read from the shared folder."""
    folder = os.path.join(work, "models", shape)
    os.makedirs(folder, exist_ok=True)
    tok = os.path.join(shared, "tokenizers", TOKENIZER)
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(tok, name)):
            shutil.copyfile(os.path.join(tok, name), os.path.join(folder, name))
    if not os.path.isfile(os.path.join(folder, "tokenizer.json")):
        raise FileNotFoundError(f"no {TOKENIZER} tokenizer.json under {tok}; set --shared or $WHET_SHARED")
    write_json(os.path.join(folder, "config.json"), model_config(shape))
    return folder


def synthetic_chat(samples: int) -> str:
    """Deterministic chat samples of ~20 to ~420 tokens (bench/calibrate-memory.ts syntheticData): packed rows come out full."""
    words = ("the model learns memory planning from measured runs of several shapes and batch sizes on one device "
             "while the planner predicts each phase").split(" ")
    x = 12345

    def nxt():
        nonlocal x
        x = (x * 1103515245 + 12345) % 2 ** 31
        return x

    lines = []
    for n in range(samples):
        length = 10 + nxt() % 300
        text = " ".join(words[nxt() % len(words)] for _ in range(length))
        lines.append(json.dumps({"messages": [{"role": "user", "content": f"Sample {n}."},
                                              {"role": "assistant", "content": text}]}))
    return "\n".join(lines) + "\n"


def config_yaml(keys: dict) -> str:
    """JSON is YAML: one key a line, values JSON-quoted."""
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items())


# ---------------------------------------------------------------------------------------------
# processes


def _proc_stat(pid: int):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return s[s.rindex(")") + 2:].split(" ")
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def workers_of(run_dir: str) -> dict:
    """pid -> RANK of the processes whose command line names this run's spec.json and whet_worker: the ranks, and
    torchrun itself (RANK None)."""
    spec = os.path.join(run_dir, "spec.json")
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"whet_worker" in argv and spec.encode() in argv and alive(int(name)):
            rank = None
            if b"torch.distributed.run" in argv:
                found[int(name)] = None
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    for kv in f.read().split(b"\0"):
                        if kv.startswith(b"RANK="):
                            rank = int(kv[5:])
            except (OSError, ValueError):
                pass
            found[int(name)] = rank
    return found


def descendants(root: int) -> list:
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_pids(pids, wait_s: float = 30.0) -> list:
    """SIGKILL, then wait until they are gone (GPU memory is free only then); returns those still alive."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    end = time.time() + wait_s
    left = [p for p in pids if alive(p)]
    while left and time.time() < end:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


def _tail(path: str, n: int = 4000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def read_events(path: str) -> list:
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


STEP_FIELDS = ("step", "loss", "grad_norm", "lr", "tokens", "trained_tokens", "tokens_per_s", "step_time_s", "data_time_s",
               "fwd_bwd_time_s", "optimizer_time_s", "comm_wait_time_s", "mfu", "mem_allocated_gib", "mem_reserved_gib",
               "mem_peak_gib", "mem_peak_reserved_gib")


class Runner:
    def __init__(self, o, out_path: str, doc: dict):
        self.o, self.out_path, self.doc = o, out_path, doc
        self.current = None  # (Popen, run_dir) of the run in progress
        self.deadline = None if o.budget_s is None else STARTED + o.budget_s

    # -- bookkeeping

    def write(self) -> None:
        self.doc["elapsed_s"] = round(time.time() - STARTED, 1)
        write_json(self.out_path, self.doc)

    def remaining(self):
        return None if self.deadline is None else self.deadline - time.time()

    def timeout_for(self, longest: float | None = None):
        """Seconds this run may take, or None when it should not start (budget)."""
        rem = self.remaining()
        t = max(self.o.run_timeout_s, longest or 0)
        if rem is None:
            return t
        if rem < self.o.min_run_s:
            return None
        return max(1.0, min(t, rem - 3))

    def on_signal(self, signum: int) -> None:
        if self.current is not None:
            self.stop_run(*self.current)
        self.doc["interrupted"] = f"signal {signum} after {time.time() - STARTED:.0f}s"
        self.write()
        os._exit(128 + signum)

    def stop_run(self, proc, run_dir) -> list:
        """whet's (or torchrun's) process group first, so no supervisor restarts anything, then every process
        that was below it and the run's ranks (torchrun starts each rank in a session of its own)."""
        below = descendants(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return kill_pids(sorted(set(below) | set(workers_of(run_dir) if run_dir else ())))

    # -- the commands

    def node(self) -> str:
        return self.o.node

    def env(self, n: int, extra: dict | None = None) -> dict:
        env = dict(os.environ, WHET_CACHE_DIR=os.path.join(self.o.work, "cache"), HF_HUB_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
        env.pop("WHET_FAULT", None)
        if self.o.python:
            env["WHET_PYTHON"] = self.o.python
        if self.o.device == "cuda":
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(n))
        else:
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
        env.update(extra or {})
        return env

    def train_argv(self, cfg: str, overrides: dict, n: int, max_retries: int = 0) -> list:
        argv = [self.node(), os.path.join(REPO, "bin", "whet.js"), "train", cfg,
                *[f"{k}={_kv(v)}" for k, v in overrides.items()], "--json", "--nproc", str(n), "--max-retries",
                str(max_retries)]
        if self.o.force:
            argv.append("--force")
        if self.o.device == "cpu":
            argv += ["--device", "cpu"]
        return argv

    def plan(self, cfg: str, overrides: dict, n: int) -> dict:
        """`whet plan CONFIG --gpus N --json`: the planner's prediction for this run (pure, no GPU)."""
        argv = [self.node(), os.path.join(REPO, "bin", "whet.js"), "plan", cfg,
                *[f"{k}={_kv(v)}" for k, v in overrides.items() if k != "output_dir"], "--gpus", str(n), "--json"]
        if self.o.gpu_memory_gib:
            argv += ["--gpu-memory", str(self.o.gpu_memory_gib)]
        out = {"command": _shell(argv)}
        if self.o.dry_run:
            return out
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO, env=self.env(n))
            if r.returncode == 0:
                p = json.loads(r.stdout)
                out.update({k: p.get(k) for k in ("per_gpu", "phase", "host_ram_gib", "host_ram_per_gpu_gib", "gpu_memory_gib",
                                                  "margin", "fits", "settings", "notes")})
                out["predicted_peak_gib"] = (p.get("per_gpu") or {}).get("peak_gib")
            else:
                out["error"] = (r.stderr or r.stdout)[-2000:]
        except (OSError, subprocess.TimeoutExpired, ValueError) as e:
            out["error"] = f"{type(e).__name__}: {e}"
        return out

    # -- one `whet train`

    def train(self, label: str, cfg: str, overrides: dict, n: int, est_s: float, env_extra: dict | None = None,
              stop_at_last_step: bool = True, kill_rank=None, fresh: bool = True, max_retries: int = 0,
              longest: float | None = None) -> dict:
        """Runs whet train; returns its record. kill_rank: (rank, after_step) SIGKILLs that rank half a step
        after that step was reported. max_retries: --max-retries (OOM retries and auto_resume restarts; 0
        here, so an out-of-memory is a result and not a retry with other settings)."""
        run_dir = overrides["output_dir"]
        argv = self.train_argv(cfg, overrides, n, max_retries)
        env = self.env(n, env_extra)
        shown_env = {k: env[k] for k in ("CUDA_VISIBLE_DEVICES", "WHET_FAULT", "OMP_NUM_THREADS") if k in env}
        rec = {"label": label, "n": n, "command": _shell(argv, shown_env), "run_dir": run_dir, "status": "pending",
               "estimated_s": est_s}  # --dry-run's rough figure, beside the measured wall_s
        if self.o.dry_run:
            rec["status"] = "dry-run"
            return rec
        timeout = self.timeout_for(longest)
        if timeout is None:
            rec["status"] = "skipped (budget)"
            return rec
        if fresh and os.path.isdir(run_dir):
            shutil.rmtree(run_dir)
        max_steps = int(overrides["max_steps"])
        log_path = os.path.join(self.o.work, "logs", f"{label}.stderr")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        print(f"== {label}: {rec['command']} (timeout {timeout:.0f}s)", flush=True)
        t0 = time.time()
        events, steps, hellos = [], [], []
        lines = queue.Queue()
        with open(log_path, "w") as err:
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                    start_new_session=True)
            self.current = (proc, run_dir)

            def pump():
                for line in proc.stdout:
                    lines.put(line)
                lines.put(None)

            threading.Thread(target=pump, daemon=True).start()
            stop_reason, kill_at, killed, exited_at = None, None, None, None
            eof = False
            while True:
                now = time.time()
                if now - t0 > timeout:
                    stop_reason = "timeout" if self.remaining() is None or self.remaining() > 5 else "budget"
                    break
                if kill_at is not None and killed is None and now >= kill_at:
                    killed = self._kill_rank(run_dir, kill_rank[0], steps)
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    if proc.poll() is not None:
                        exited_at = exited_at or time.time()
                        # whet has exited: its output is read to the end (or something else holds the pipe)
                        if eof or time.time() - exited_at > 3:
                            break
                    continue
                if line is None:
                    eof = True
                    continue
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                events.append(ev)
                if ev.get("type") == "hello" and ev.get("rank") == 0:
                    hellos.append(ev)
                    rec.setdefault("time_to_hello_s", round(time.time() - t0, 2))
                if ev.get("type") == "step" and ev.get("rank", 0) == 0:
                    steps.append({k: ev.get(k) for k in STEP_FIELDS if k in ev} | {"attempt": len(hellos)})
                    rec.setdefault("time_to_first_step_s", round(time.time() - t0, 2))
                    if kill_rank and killed is None and kill_at is None and ev["step"] >= kill_rank[1]:
                        times = [s["step_time_s"] for s in steps[-3:] if s.get("step_time_s")]
                        kill_at = time.time() + 0.5 * (statistics.median(times) if times else 1.0)
                    if stop_at_last_step and ev["step"] >= max_steps:
                        stop_reason = "measured"
                        break
            t_end = time.time()
            if stop_reason:
                left = self.stop_run(proc, run_dir)
            else:
                proc.wait()
                left = workers_of(run_dir)
                rec["workers_left_running"] = sorted(left)  # the supervisor should leave none
                left = kill_pids(list(left))
            self.current = None
        rec["wall_s"] = round(t_end - t0, 2)
        rec["exit_code"] = proc.returncode
        rec["stopped_by_bench"] = stop_reason  # measured: after the last step, export skipped
        if left:
            rec["workers_not_killed"] = left
        if killed is not None:
            rec["rank_killed"] = killed
            rec["exit_s_after_kill"] = round(t_end - killed["time"], 2) if not stop_reason else None
        rec["steps"] = steps
        rec["hellos"] = len(hellos)
        if hellos:
            h = hellos[0]
            rec["hello"] = {k: h.get(k) for k in ("world_size", "device", "versions", "strategy", "offload", "wrapping",
                                                  "activation_checkpointing", "trainable_params", "total_params",
                                                  "start_step", "dtypes")}
            rec["start_steps"] = [x.get("start_step") for x in hellos]
        rec["events_by_type"] = _count([e.get("type") for e in events])
        codes = [{k: e.get(k) for k in ("type", "rank", "code", "message", "phase", "step")} for e in
                 read_events(os.path.join(run_dir, "events.jsonl")) if e.get("type") in ("error", "warning")]
        if codes:
            rec["errors_and_warnings"] = codes[-20:]
        rec["resolved"] = _resolved(run_dir)
        rec["gpu_mem_used_gib_max"] = _gpu_max(run_dir)
        complete = bool(steps) and max(s["step"] for s in steps) >= max_steps
        if stop_reason == "timeout":
            rec["status"] = "timeout"
        elif stop_reason == "budget":
            rec["status"] = "stopped (budget)"
        elif complete:
            rec["status"] = "ok"
        else:
            oom = any(c.get("code") == "OOM" for c in codes)
            rec["status"] = "oom" if oom else "failed"
        rec["stderr_tail"] = _tail(log_path, 3000 if (rec["status"] != "ok" or not stop_reason) else 1200)
        return rec

    def _kill_rank(self, run_dir: str, rank: int, steps: list) -> dict:
        ranks = workers_of(run_dir)
        pid = next((p for p, r in ranks.items() if r == rank), None)
        out = {"rank": rank, "pid": pid, "time": time.time(), "after_step": steps[-1]["step"] if steps else None,
               "signal": "SIGKILL", "ranks_seen": sum(r is not None for r in ranks.values())}
        if pid is None:
            out["error"] = f"no worker with RANK={rank} among {sorted(ranks.values(), key=str)}"
            return out
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError as e:
            out["error"] = str(e)
        print(f"== killed rank {rank} (pid {pid}) after step {out['after_step']}", flush=True)
        return out


def _kv(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _shell(argv: list, env: dict | None = None) -> str:
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()), *(shlex.quote(a) for a in argv)])


def _count(xs) -> dict:
    out = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return out


def _resolved(run_dir: str):
    try:
        with open(os.path.join(run_dir, "spec.json")) as f:
            s = json.load(f)
    except (OSError, ValueError):
        return None
    t, d = s["train"], s["distributed"]
    return {"strategy": d["strategy"], "offload": d["offload"], "world_size": d["world_size"],
            "micro_batch_size": t["micro_batch_size"], "gradient_accumulation_steps": t["gradient_accumulation_steps"],
            "global_batch_rows": t["global_batch_rows"], "steps_per_epoch": t["steps_per_epoch"], "compile": t.get("compile"),
            "activation_checkpointing": t.get("activation_checkpointing"), "attn_implementation": s["model"]["attn_implementation"],
            "flops_per_token": t.get("flops_per_token"), "peak_flops_per_rank": d.get("peak_flops_per_rank"),
            "precision": s.get("precision"), "seq_len": s["data"]["seq_len"], "shard_dir": s["data"]["shard_dir"],
            "resume_from": s["checkpoint"].get("resume_from"), "fault": s.get("fault")}


def _gpu_max(run_dir: str):
    """The largest memory.used nvidia-smi saw on each GPU during the run (runs/<id>/gpu.jsonl, every 3 s)."""
    best = {}
    for rec in read_events(os.path.join(run_dir, "gpu.jsonl")):
        for g in rec.get("gpus") or []:
            if g.get("mem_used_gib") is not None:
                i = str(g.get("index"))
                best[i] = max(best.get(i, 0.0), g["mem_used_gib"])
    return best or None


# ---------------------------------------------------------------------------------------------
# summaries


def summarize(steps: list, n: int, warmup: int, tokens_key: str = "tokens", flops=None, peak=None) -> dict:
    """Median over the steps after the warm-up; per GPU = all ranks' tokens/s over N."""
    timed = [s for s in steps if s["step"] > warmup and s.get("step_time_s")]
    tps = [s[tokens_key] / s["step_time_s"] for s in timed]
    med = statistics.median(tps) if tps else None

    def med_of(k):
        xs = [s[k] for s in timed if s.get(k) is not None]
        return statistics.median(xs) if xs else None

    def max_of(k):
        xs = [s[k] for s in steps if s.get(k) is not None]
        return max(xs) if xs else None

    mfu = med_of("mfu")
    if mfu is None and med and flops and peak:
        mfu = med / n * flops / peak
    return {"steps_done": len(steps), "steps_timed": len(timed), "tokens_per_s": med,
            "tokens_per_s_per_gpu": med / n if med else None,
            "tokens_per_gpu_per_step": statistics.mean(s[tokens_key] for s in timed) / n if timed else None,
            "step_time_p50_s": med_of("step_time_s"), "fwd_bwd_time_p50_s": med_of("fwd_bwd_time_s"),
            "optimizer_time_p50_s": med_of("optimizer_time_s"), "comm_wait_time_p50_s": med_of("comm_wait_time_s"),
            "mfu": mfu, "mem_peak_gib": max_of("mem_peak_gib"), "mem_peak_reserved_gib": max_of("mem_peak_reserved_gib"),
            "mem_allocated_after_step_max_gib": max_of("mem_allocated_gib"),
            "losses": [s.get("loss") for s in steps], "step_times_s": [s.get("step_time_s") for s in steps]}


def scaling(runs: list) -> dict:
    """Weak-scaling efficiency from the per-GPU tokens/s of the runs that completed."""
    per = {r["n"]: r["summary"]["tokens_per_s_per_gpu"] for r in runs
           if r.get("status") == "ok" and (r.get("summary") or {}).get("tokens_per_s_per_gpu")}
    out = {"tokens_per_s_per_gpu": {str(n): per[n] for n in sorted(per)},
           "efficiency_vs_1": {str(n): per[n] / per[1] for n in sorted(per)} if 1 in per else {},
           "efficiency_vs_2": {str(n): per[n] / per[2] for n in sorted(per) if n >= 2} if 2 in per else {}}
    goals = {}
    if 1 in per and 2 in per:
        v = per[2] / per[1]
        goals["1->2"] = {"min": GOALS["1->2"], "value": v, "met": v >= GOALS["1->2"]}
    top = max((n for n in per if n > 2), default=None)
    if 2 in per and top:
        v = per[top] / per[2]
        goals[f"2->{top}"] = {"min": GOALS["2->8"], "value": v, "met": v >= GOALS["2->8"],
                              **({} if top == 8 else {"note": "the goal is 2->8; 8 GPUs were not measured"})}
    out["goals"] = goals
    out["table"] = [{"n": r["n"], "status": r.get("status"),
                     **{k: (r.get("summary") or {}).get(k) for k in (
                         "tokens_per_s_per_gpu", "tokens_per_gpu_per_step", "mfu", "step_time_p50_s", "comm_wait_time_p50_s",
                         "mem_peak_gib", "mem_peak_reserved_gib", "gpu_mem_used_max_gib", "predicted_peak_gib")},
                     "efficiency_vs_1": out["efficiency_vs_1"].get(str(r["n"]))}
                    for r in runs]
    return out


# ---------------------------------------------------------------------------------------------
# cases


class Bench:
    def __init__(self, o, runner: Runner):
        self.o, self.r = o, runner
        self.models = {}
        self.data = None

    def prepare(self) -> None:
        o = self.o
        os.makedirs(o.work, exist_ok=True)
        self.data = os.path.join(o.work, "data", "chat.jsonl")
        if not os.path.isfile(self.data):
            os.makedirs(os.path.dirname(self.data), exist_ok=True)
            with open(self.data, "w") as f:
                f.write(synthetic_chat(o.samples))

    def model(self, shape: str) -> str:
        if shape not in self.models:
            self.models[shape] = write_model(self.o.work, shape, self.o.shared)
        return self.models[shape]

    def shape_of(self, c: dict) -> str:
        return "tiny" if self.o.device == "cpu" else c["shape"]

    def config(self, name: str, c: dict, extra: dict | None = None) -> tuple[str, dict]:
        """The case's YAML (written to the work folder) and its keys."""
        o = self.o
        keys = {"model_name_or_path": self.model(self.shape_of(c)), "random_init": True, "stage": "sft",
                "dataset": self.data, "cutoff_len": o.seq_len, "packing": True, "learning_rate": c["lr"],
                "lr_scheduler_type": "constant", "logging_steps": 1, "save_steps": 0, "seed": 0,
                "bf16": o.device == "cuda", **c["keys"]}
        if o.device == "cpu":
            keys["gradient_checkpointing"] = "full"  # the CPU default, and the cheapest here
        if o.compile is not None and "torch_compile" not in c["keys"]:
            keys["torch_compile"] = o.compile
        keys.update(extra or {})
        for kv in o.set or []:
            k, v = kv.split("=", 1)
            keys[k] = _yaml_value(v)
        folder = os.path.join(o.work, "configs")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(config_yaml(keys))
        return path, keys

    def mb_acc(self, c: dict) -> tuple[int, int]:
        if self.o.device == "cpu":
            return 1, 1
        return c["mb"], c.get("acc", 1)

    def run_dir(self, *parts: str) -> str:
        return os.path.join(self.o.work, "runs", *parts)

    # -- weak scaling and the 32B cases

    def throughput(self, name: str, c: dict, ns: list, doc_case: dict) -> None:
        o = self.o
        mb, acc = self.mb_acc(c)
        cfg, keys = self.config(name, c, {"per_device_train_batch_size": mb, "gradient_accumulation_steps": acc,
                                          "max_steps": o.steps})
        doc_case.update(config_file=cfg, config=keys, micro_batch=mb, accumulation=acc,
                        tokens_per_gpu_per_step_nominal=mb * acc * o.seq_len, n_list=ns, runs=[])
        host_gib = _host_gib()
        for n in ns:
            over = {"output_dir": self.run_dir(name, f"n{n}"), "max_steps": o.steps}
            plan = self.r.plan(cfg, over, n)
            fallback = c.get("offload_fallback")
            if fallback and plan.get("fits") is False:
                alt = self.r.plan(cfg, {**over, "offload": fallback}, n)
                if alt.get("fits"):
                    over["offload"], plan = fallback, dict(alt, chosen_because=f"offload {keys.get('offload')} "
                                                                                 f"predicted not to fit")
            rec_base = {"case": name, "n": n, "plan": plan}
            need = plan.get("host_ram_gib")
            if need and host_gib and need > 0.9 * host_gib and not o.dry_run:
                rec = {**rec_base, "label": f"{name}-n{n}", "status": "skipped (host RAM)",
                       "reason": f"the planner predicts {need:.0f} GiB of host RAM for offload; this host has {host_gib:.0f} GiB"}
            else:
                rec = {**rec_base, **self.r.train(f"{name}-n{n}", cfg, over, n, c["est_s"] + (25 if n > 1 else 0),
                                                  longest=c.get("timeout_s"))}
            if rec.get("steps") is not None:
                res = rec.get("resolved") or {}
                rec["summary"] = summarize(rec["steps"], n, o.warmup)
                sm = rec["summary"]
                pred = plan.get("predicted_peak_gib")
                smi = max((rec.get("gpu_mem_used_gib_max") or {}).values(), default=None)
                sm["predicted_peak_gib"] = pred
                sm["gpu_mem_used_max_gib"] = smi
                sm["reserved_over_predicted"] = sm["mem_peak_reserved_gib"] / pred if (sm["mem_peak_reserved_gib"] and pred) else None
                sm["nvidia_smi_over_predicted"] = smi / pred if (smi and pred) else None
                rec["summary"]["flops_per_token"] = res.get("flops_per_token")
            doc_case["runs"].append(rec)
            doc_case["scaling"] = scaling(doc_case["runs"])
            self.r.write()
            s = rec.get("summary") or {}
            print(f"== {name} N={n}: {rec['status']}; tokens/s per GPU {_r(s.get('tokens_per_s_per_gpu'))}, MFU "
                  f"{_r(s.get('mfu'), 3)}, peak {_r(s.get('mem_peak_gib'))} GiB (planner {_r(plan.get('predicted_peak_gib'))})",
                  flush=True)

    def baseline(self, name: str, c: dict, ns: list, doc_case: dict) -> None:
        """bench/speed.py's Trainer side on the same N GPUs, the same shard and rows per step."""
        if c["kind"] not in ("weak", "big"):
            return
        if isinstance(c.get("baseline"), str):
            doc_case["baseline"] = c["baseline"]
            return
        mb, acc = self.mb_acc(c)
        doc_case["baseline_runs"] = []
        for n in ns:
            rec = self.baseline_run(name, c, n, mb, acc, doc_case)
            doc_case["baseline_runs"].append(rec)
            doc_case["baseline_scaling"] = scaling(doc_case["baseline_runs"])
            w = {r["n"]: r for r in doc_case.get("runs", [])}.get(n)
            ws, bs = (w or {}).get("summary") or {}, rec.get("summary") or {}
            if ws.get("tokens_per_s_per_gpu") and bs.get("tokens_per_s_per_gpu"):
                rec["whet_over_baseline_tokens_per_s"] = ws["tokens_per_s_per_gpu"] / bs["tokens_per_s_per_gpu"]
            self.r.write()
            print(f"== {name} baseline N={n}: {rec['status']}; tokens/s per GPU {_r(bs.get('tokens_per_s_per_gpu'))}", flush=True)

    def baseline_run(self, name: str, c: dict, n: int, mb: int, acc: int, doc_case: dict) -> dict:
        o = self.o
        label = f"{name}-baseline-n{n}"
        folder = self.run_dir(name, f"baseline-n{n}")
        rec = {"case": name, "n": n, "label": label, "side": "baseline"}
        py = o.python or sys.executable
        side = [SPEED, "--side", "baseline", "--plan", os.path.join(folder, "plan.json"), "--result",
                os.path.join(folder, "result.json")]
        argv = [py, *side] if n == 1 else [py, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                                            "--nproc-per-node", str(n), "--max-restarts", "0", *side]
        env = self.r.env(n)
        rec["command"] = _shell(argv, {k: env[k] for k in ("CUDA_VISIBLE_DEVICES",) if k in env})
        if o.dry_run:
            rec["status"] = "dry-run"
            return rec
        timeout = self.r.timeout_for()
        if timeout is None:
            rec["status"] = "skipped (budget)"
            return rec
        spec = self.spec_for(name, c, n, doc_case)
        if spec is None:
            rec["status"] = "error"
            rec["error"] = "no RunSpec for this case and N (whet train --dry-run failed)"
            return rec
        method = spec["method"]["finetuning_type"]
        cuda = o.device == "cuda"
        t = spec["train"]
        acc = t["global_batch_rows"] // (mb * n)  # the rows of whet's step, dealt over n ranks in micro-batches of mb
        plan = {"case": label, "method": method, "device": o.device, "compute_dtype": "bfloat16" if cuda else "float32",
                "model_dir": spec["model"]["path"], "random_init": True, "shard_dir": spec["data"]["shard_dir"],
                "rows_per_step": t["global_batch_rows"], "steps": o.steps, "steps_per_epoch": t["steps_per_epoch"],
                "seed": t["seed"], "lr": t["learning_rate"], "schedule": "constant",
                "optim": {"weight_decay": t["weight_decay"], "adam_beta1": t["adam_beta1"], "adam_beta2": t["adam_beta2"],
                          "adam_epsilon": t["adam_epsilon"], "max_grad_norm": t["max_grad_norm"]},
                "flops_per_token": t.get("flops_per_token"), "lora_init_path": None,
                "baseline": {"micro_batch": mb, "accumulation": acc, "reentrant": True, "pad_multiple": 8,
                             "full_dtype": "bfloat16", "output_dir": os.path.join(folder, "hf-out")}}
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
        write_json(os.path.join(folder, "plan.json"), plan)
        log = os.path.join(folder, "side.log")
        print(f"== {label}: {rec['command']} (timeout {timeout:.0f}s)", flush=True)
        t0 = time.time()
        with open(log, "w") as f:
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
            self.r.current = (proc, None)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.r.stop_run(proc, None)
                rc = "timeout"
            self.r.current = None
        rec["wall_s"] = round(time.time() - t0, 2)
        rec["exit_code"] = rc
        try:
            with open(os.path.join(folder, "result.json")) as f:
                res = json.load(f)
        except (OSError, ValueError):
            res = {"status": "died"}
        status = res.get("status")
        if rc == "timeout":
            status = "timeout"
        elif rc != 0 and status in ("running", "ok"):
            status = "died"
        rec["status"] = status
        rec["settings"] = res.get("settings")
        for k in ("setup_s", "error", "trainable_params", "total_params", "host_rss_peak_gib", "setup_peak_allocated_gib",
                  "end_peak_allocated_gib", "end_peak_reserved_gib"):
            if k in res:
                rec[k] = res[k]
        steps = [{"step": s["step"], "loss": s.get("loss"), "tokens": s.get("real_tokens"), "padded_tokens": s.get("padded_tokens"),
                  "trained_tokens": s.get("trained_tokens"), "step_time_s": s.get("step_time_s"), "grad_norm": s.get("grad_norm"),
                  "mem_peak_gib": s.get("mem_peak_gib"), "mem_reserved_gib": s.get("mem_reserved_gib")}
                 for s in res.get("steps") or []]
        rec["steps"] = steps
        rec["summary"] = summarize(steps, n, o.warmup, flops=plan["flops_per_token"],
                                   peak=o.peak_tflops * 1e12 if cuda else None)
        if status != "ok":
            rec["log_tail"] = _tail(log, 3000)
        return rec

    def spec_for(self, name: str, c: dict, n: int, doc_case: dict):
        """The whet run's spec.json for this N, else `whet train --dry-run --json` (the same config, the same shard)."""
        run = {r["n"]: r for r in doc_case.get("runs", [])}.get(n)
        if run and run.get("run_dir") and run.get("wall_s") is not None:  # it ran in this invocation
            try:
                with open(os.path.join(run["run_dir"], "spec.json")) as f:
                    return json.load(f)
            except (OSError, ValueError):
                pass
        cfg = doc_case.get("config_file")
        if not cfg:
            return None
        argv = self.r.train_argv(cfg, {"output_dir": self.run_dir(name, f"dry-n{n}"), "max_steps": self.o.steps}, n)
        argv.insert(argv.index("--json"), "--dry-run")
        r = subprocess.run(argv, cwd=REPO, env=self.r.env(n), capture_output=True, text=True, timeout=300)
        try:
            return json.loads(r.stdout)["spec"]
        except (ValueError, KeyError):
            return None

    # -- resume on other GPU counts

    def resume(self, name: str, c: dict, doc_case: dict) -> None:
        o = self.o
        src_n, targets = o.resume_from, o.resume_to
        if src_n < 2:
            doc_case.update(status="skipped", reason="needs at least 2 processes to resume from")
            return
        S = o.resume_steps
        save = S // 2
        mb = 1
        cfg, keys = self.config(name, c, {"per_device_train_batch_size": mb, "global_batch_size": o.resume_global_batch,
                                          "max_steps": S, "save_steps": save})
        rtol = o.resume_rtol if o.resume_rtol is not None else (1e-4 if o.device == "cpu" else 1e-2)
        doc_case.update(config_file=cfg, config=keys, from_n=src_n, to_n=targets, checkpoint_step=save, rtol=rtol,
                        stop_mode=o.resume_stop, runs=[],
                        how="the stopped run's folder is copied (checkpoint files hard-linked) and continued with "
                            "auto_resume: true, output_dir=<copy> and --nproc N: `whet train --resume RUN` keeps the "
                            "spec's process count")
        ref = self.r.train(f"{name}-uninterrupted-n{src_n}", cfg, {"output_dir": self.run_dir(name, "uninterrupted"),
                                                                   "max_steps": S}, src_n, c["est_s"])
        ref["role"] = "uninterrupted"
        doc_case["runs"].append(ref)
        self.r.write()
        stopped_dir = self.run_dir(name, "stopped")
        over = {"output_dir": stopped_dir, "max_steps": S}
        stop = None
        if o.resume_stop == "fault":
            stop = self.r.train(f"{name}-stopped-n{src_n}", cfg, over, src_n, c["est_s"], stop_at_last_step=True,
                                env_extra={"WHET_FAULT": f"exit:0:{save + 1}"})
        elif o.resume_stop == "sigterm":
            stop = self.sigterm_after_checkpoint(f"{name}-stopped-n{src_n}", cfg, over, src_n, c["est_s"], save)
        else:  # the uninterrupted run's own checkpoint at `save` (later ones left out of the copies)
            stopped_dir = ref["run_dir"]
        if stop is not None:
            stop["role"] = "stopped"
            stop["note"] = ("stopped on purpose after its checkpoint (its status says how it ended: failed for the "
                            "injected exit)")
            doc_case["runs"].append(stop)
            self.r.write()
        source = stop if stop is not None else ref
        # only what this invocation's run wrote (a skipped run leaves an older folder in place)
        ckpts = sorted(_checkpoints(stopped_dir), key=lambda x: int(x[5:])) if source.get("wall_s") is not None else []
        if o.resume_stop == "none":
            ckpts = [x for x in ckpts if int(x[5:]) <= save]
        doc_case["stopped_checkpoints"] = ckpts
        ref_loss = {s["step"]: s["loss"] for s in ref.get("steps") or []}
        for s in (stop or {}).get("steps") or []:
            if s["step"] in ref_loss:
                doc_case.setdefault("before_checkpoint_rel_diff", {})[str(s["step"])] = _rel(s["loss"], ref_loss[s["step"]])
        comparisons = {}
        for n in targets:
            dst = self.run_dir(name, f"resumed-n{n}")
            rec = {"label": f"{name}-resumed-n{n}", "n": n, "role": "resumed"}
            if not ckpts and not o.dry_run:
                rec["status"] = "skipped (the stopped run left no complete checkpoint)"
            else:
                if not o.dry_run:
                    _copy_run(stopped_dir, dst, keep=ckpts[-1])
                rec = {**self.r.train(f"{name}-resumed-n{n}", cfg, {"output_dir": dst, "max_steps": S, "auto_resume": True},
                                      n, c["est_s"] + 10, fresh=False), "role": "resumed"}
            doc_case["runs"].append(rec)
            got = {s["step"]: s["loss"] for s in rec.get("steps") or []}
            start = (rec.get("start_steps") or [None])[0]
            diffs = {str(k): _rel(got[k], ref_loss[k]) for k in sorted(got) if k in ref_loss}
            ok = bool(diffs) and rec.get("status") == "ok" and all(v is not None and v <= rtol for v in diffs.values())
            known = [v for v in diffs.values() if v is not None]
            comparisons[str(n)] = {"start_step": start, "steps_compared": sorted(int(k) for k in diffs),
                                   "loss_rel_diff": diffs, "loss_rel_diff_max": max(known) if known else None,
                                   "within_rtol": ok}
            doc_case["comparison"] = comparisons
            self.r.write()
        doc_case["comparison"] = comparisons

    def sigterm_after_checkpoint(self, label, cfg, over, n, est_s, save) -> dict:
        """Stops the run as the dashboard's stop button does: SIGTERM to whet once checkpoint `save` is reported."""
        holder = {}

        def watcher():
            path = os.path.join(over["output_dir"], "events.jsonl")
            end = time.time() + self.o.run_timeout_s
            while time.time() < end and "done" not in holder:
                cur = self.r.current
                # only once this run is started (its folder was emptied before)
                if cur and cur[1] == over["output_dir"] and any(
                        e.get("type") == "checkpoint" and e.get("step") == save for e in read_events(path)):
                    os.kill(cur[0].pid, signal.SIGTERM)
                    holder["sent"] = time.time()
                    return
                time.sleep(0.2)

        threading.Thread(target=watcher, daemon=True).start()
        rec = self.r.train(label, cfg, over, n, est_s, stop_at_last_step=True)
        holder["done"] = True
        rec["sigterm_sent"] = "sent" in holder
        return rec

    # -- a killed rank

    def kill(self, name: str, c: dict, doc_case: dict) -> None:
        o = self.o
        n = o.kill_nproc
        S = o.kill_steps
        if n < 2:
            doc_case.update(status="skipped", reason="needs at least 2 processes")
            return
        save = 2
        mb, acc = (1, 1) if o.device == "cpu" else (c["mb"], c["acc"])
        cfg, keys = self.config(name, c, {"per_device_train_batch_size": mb, "gradient_accumulation_steps": acc,
                                          "max_steps": S, "save_steps": save})
        doc_case.update(config_file=cfg, config=keys, n=n, runs=[])
        victim = n - 1
        if "sigkill" in o.kill_modes:
            rec = self.r.train(f"{name}-sigkill-n{n}", cfg, {"output_dir": self.run_dir(name, "sigkill"), "max_steps": S},
                               n, c["est_s"] + 30, stop_at_last_step=True, kill_rank=(victim, save + 1))
            rec["mode"] = f"SIGKILL of rank {victim} from outside, half a step after step {save + 1}; no auto_resume"
            doc_case["runs"].append(rec)
            self.r.write()
        if "fault-exit" in o.kill_modes:
            rec = self.r.train(f"{name}-fault-exit-n{n}", cfg, {"output_dir": self.run_dir(name, "fault-exit"), "max_steps": S,
                                                                  "auto_resume": True},
                               n, c["est_s"] * 2 + 30, env_extra={"WHET_FAULT": f"exit:{victim}:{save + 2}"}, max_retries=1)
            rec["mode"] = (f"WHET_FAULT=exit:{victim}:{save + 2} (rank {victim} exits before the forward of step {save + 2}); "
                           "auto_resume: true")
            doc_case["runs"].append(rec)
            self.r.write()
        doc_case["supervisor"] = [{"mode": r.get("mode"), "status": r.get("status"), "exit_code": r.get("exit_code"),
                                   "exit_s_after_kill": r.get("exit_s_after_kill"), "hellos": r.get("hellos"),
                                   "workers_left_running": r.get("workers_left_running"),
                                   "codes": [e.get("code") for e in r.get("errors_and_warnings") or []],
                                   "message": _supervisor_lines(r.get("stderr_tail") or ""),
                                   "repeated_steps_loss_rel_diff": _repeated(r.get("steps") or [])}
                                  for r in doc_case["runs"]]


def _repeated(steps: list) -> dict:
    """Steps run again after a restart: the relative loss difference between the attempts (same processes, same rows)."""
    first = {}
    out = {}
    for st in steps:
        if st["step"] in first and st.get("attempt") != first[st["step"]].get("attempt"):
            out[str(st["step"])] = _rel(st.get("loss"), first[st["step"]].get("loss"))
        first.setdefault(st["step"], st)
    return out


def _supervisor_lines(text: str) -> list:
    keep = ("failed:", "supervisor:", "auto_resume", "logs:", "Continue from", "error (")
    return [line for line in text.splitlines() if line.strip().startswith(keep)][-8:]


def _checkpoints(run_dir: str) -> list:
    d = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(d):
        return []
    return [x for x in os.listdir(d) if x.startswith("step-") and x[5:].isdigit()]


def _copy_run(src: str, dst: str, keep: str) -> None:
    """A copy of a run folder to continue elsewhere: files copied, checkpoint files hard-linked (never rewritten),
    of the checkpoints only `keep` (step-N)."""
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    ck = os.path.abspath(os.path.join(src, "checkpoints"))

    def ignore(folder, names):
        drop = {"heartbeat"} & set(names)
        if os.path.abspath(folder) == ck:
            drop |= {x for x in names if x != keep}
        return drop

    def link_or_copy(a, b):
        if os.path.commonpath([os.path.abspath(a), ck]) == ck:
            try:
                os.link(a, b)
                return b
            except OSError:
                pass
        return shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy, ignore=ignore)


def _rel(a, b):
    return abs(a - b) / abs(b) if (a is not None and b) else None


def _r(x, nd: int = 1):
    return None if x is None else round(x, nd)


def _yaml_value(v: str):
    try:
        return json.loads(v)
    except ValueError:
        return v


def _host_gib():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError):
        return None


def visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
            return sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.TimeoutExpired):
            return 0


# ---------------------------------------------------------------------------------------------
# main


def _ints(s: str) -> list:
    """Comma-separated counts in the order given (the order they run in: the most wanted first under a budget)."""
    out = []
    for x in s.split(","):
        if x.strip() and int(x) not in out:
            out.append(int(x))
    return out


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", default=os.environ.get("OUT"), help="the JSON file, or a folder for scaling.json (default $OUT)")
    ap.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated (default {DEFAULT_CASES}); also 32b-full-zero3")
    ap.add_argument("--gpus", help="process counts for the weak-scaling cases, run in this order (default 1,2,4,8 filtered "
                                   "by the GPUs torch sees; --device cpu: 1,2)")
    ap.add_argument("--big-gpus", help="process counts for the 32B cases (default: the largest of --gpus)")
    ap.add_argument("--sides", default="whet", help="whet, baseline or whet,baseline (default whet); baselines run after "
                                                    "every whet run, for the weak-scaling and 32B cases")
    ap.add_argument("--baseline-gpus", help="process counts of the baseline runs (default: the whet runs')")
    ap.add_argument("--device", choices=["cuda", "cpu"], help="default cuda when a GPU is visible")
    ap.add_argument("--steps", type=int, help="optimizer steps per throughput run (default 6; cpu 3)")
    ap.add_argument("--warmup", type=int, help="first steps left out of tokens/s (default 2; cpu 1)")
    ap.add_argument("--seq-len", type=int, help="cutoff_len, packed (default 2048; cpu 128)")
    ap.add_argument("--samples", type=int, help="synthetic chat samples (default 8000; cpu 400)")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None,
                    help="torch_compile for the throughput cases (default: the product's auto, on with GPUs)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="a config key for every run (repeatable)")
    ap.add_argument("--budget-s", type=float, help="total seconds: a run that cannot start with --min-run-s left is "
                                                   "skipped, one running at the end is stopped and recorded as such")
    ap.add_argument("--run-timeout-s", type=float, help="one run at most (default 300, 480 for 32b-full-offload; cpu 120); "
                                                        "never past --budget-s")
    ap.add_argument("--min-run-s", type=float, default=30.0)
    ap.add_argument("--resume-from", type=int, help="processes of the run that is stopped (default 4; cpu 2; at most the GPUs)")
    ap.add_argument("--resume-to", help="process counts it is continued on (default 2,8; cpu 1,2; filtered by the GPUs)")
    ap.add_argument("--resume-steps", type=int, help="max_steps; the checkpoint is at half (default 6; cpu 4)")
    ap.add_argument("--resume-global-batch", type=int, help="rows per step, kept on every count (default 8; cpu 4)")
    ap.add_argument("--resume-stop", choices=["fault", "sigterm", "none"], default="fault",
                    help="how the run is stopped after its checkpoint: WHET_FAULT exit on rank 0 at the next step "
                         "(default), SIGTERM to whet (a checkpoint at the next step boundary, then exit 130), or none: "
                         "no second run, the uninterrupted run's checkpoint at half is continued (one run less)")
    ap.add_argument("--resume-rtol", type=float, help="losses after the checkpoint vs uninterrupted (default cpu 1e-4, gpu 1e-2)")
    ap.add_argument("--kill-nproc", type=int, help="processes of the kill-rank case (default min(4, GPUs); cpu 2)")
    ap.add_argument("--kill-steps", type=int, help="max_steps of the kill-rank runs (default 6; cpu 5)")
    ap.add_argument("--kill-modes", default="sigkill,fault-exit", help="sigkill, fault-exit or both (default)")
    ap.add_argument("--no-force", dest="force", action="store_false", default=True,
                    help="let whet refuse a run the planner predicts will not fit (default: --force, measure it anyway)")
    ap.add_argument("--gpu-memory-gib", type=float, help="whet plan --gpu-memory (default: the visible GPUs'; 80 without)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the baseline's MFU: dense bf16 peak per GPU (H100/H200 989)")
    ap.add_argument("--node", default=os.environ.get("WHET_NODE", "node"), help="the node binary (default node on PATH)")
    ap.add_argument("--python", default=os.environ.get("WHET_PYTHON"), help="the workers' Python (default $WHET_PYTHON, "
                                                                            "else whet's own choice; the baseline: this one)")
    ap.add_argument("--shared", default=os.environ.get("WHET_SHARED") or os.path.join(REPO, "..", "shared", "data"),
                    help="the shared data folder with tokenizers/ (default $WHET_SHARED, else ../shared/data)")
    ap.add_argument("--work", default=os.environ.get("WHET_SCALING_WORK", "/tmp/whet-scaling"),
                    help="models, data, token-shard cache and run folders (default /tmp/whet-scaling)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, configs and a time estimate; run nothing")
    o = ap.parse_args(argv)
    if o.device is None:  # a dry run without a GPU shows the GPU plan
        o.device = "cuda" if (o.dry_run or visible_gpus() > 0) else "cpu"
    cpu = o.device == "cpu"
    for name, gpu, small in (("steps", 6, 3), ("warmup", 2, 1), ("seq_len", 2048, 128), ("samples", 8000, 400),
                             ("run_timeout_s", 300.0, 120.0), ("resume_steps", 6, 4), ("resume_global_batch", 8, 4),
                             ("kill_steps", 6, 5)):
        if getattr(o, name) is None:
            setattr(o, name, small if cpu else gpu)
    if o.warmup >= o.steps:
        ap.error("--warmup must be below --steps")
    seen = None if (o.dry_run or cpu) else visible_gpus()
    o.gpus_visible = seen
    limit = (lambda ns: [n for n in ns if n <= seen]) if seen else (lambda ns: ns)
    o.gpus = limit(_ints(o.gpus or ("1,2" if cpu else "1,2,4,8")))
    if not o.gpus:
        ap.error(f"no process count of --gpus fits the {seen} GPU(s) torch sees")
    # the resume and kill-rank cases use the machine (a dry run: the largest of --gpus), not --gpus
    most = seen or max(o.gpus)
    upto = lambda ns: [n for n in ns if n <= most]  # noqa: E731
    o.big_gpus = limit(_ints(o.big_gpus)) if o.big_gpus else [max(o.gpus)]
    o.baseline_gpus = limit(_ints(o.baseline_gpus)) if o.baseline_gpus else None
    o.resume_from = min(o.resume_from or (2 if cpu else 4), most)
    if o.resume_to:
        o.resume_to = [n for n in upto(_ints(o.resume_to)) if n != o.resume_from]
    else:  # 4 -> 2 and 8 where there are 8; on 2 GPUs 2 -> 1
        o.resume_to = [n for n in upto([2, 8]) if n != o.resume_from] if not cpu else []
        o.resume_to = o.resume_to or [1]
    o.kill_nproc = o.kill_nproc or (2 if cpu else min(4, most))
    o.kill_modes = [m.strip() for m in o.kill_modes.split(",") if m.strip()]
    o.sides = [s.strip() for s in o.sides.split(",") if s.strip()]
    if set(o.sides) - {"whet", "baseline"} or not o.sides:
        ap.error("--sides: whet, baseline or whet,baseline")
    o.cases = [ALIASES.get(c.strip(), c.strip()) for c in o.cases.split(",") if c.strip()]
    bad = [c for c in o.cases if c not in CASES]
    if bad:
        ap.error(f"unknown case(s) {bad}; the cases are {', '.join([*CASES, *ALIASES])}")
    if not o.dry_run and not o.out:
        ap.error("--out is required when $OUT is not set")
    o.shared, o.work = os.path.abspath(o.shared), os.path.abspath(o.work)
    return o


def versions_and_hardware(o) -> tuple[dict, dict]:
    hw = hardware()
    v = versions()
    try:
        v["node"] = subprocess.run([o.node, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except OSError as e:
        v["node"] = f"not found: {e}"
    return v, hw


def main(argv=None) -> int:
    o = parse_args(argv)
    out_path = None
    if o.out:
        out_path = o.out if o.out.endswith(".json") else os.path.join(o.out, "scaling.json")
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    doc = {
        "benchmark": "scaling on one host: weak scaling through whet train, a 32B shape, resume on other GPU counts, a killed rank",
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "options": {k: v for k, v in vars(o).items()},
        "env": {k: os.environ.get(k) for k in ("NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST", "NVSHMEM_DISABLE_NVLS",
                                                "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "PYTORCH_CUDA_ALLOC_CONF",
                                                "WHET_PYTHON")},
        "definitions": {
            "tokens_per_s": "real tokens of a step (all ranks) / its wall time (the step event's tokens_per_s); the median "
                            "over the steps after --warmup",
            "tokens_per_s_per_gpu": "tokens_per_s / N",
            "efficiency_vs_1": "tokens_per_s_per_gpu(N) / tokens_per_s_per_gpu(1), weak scaling (same micro-batch, "
                               "accumulation and sequence length per GPU; the global batch grows with N)",
            "efficiency_vs_2": "tokens_per_s_per_gpu(N) / tokens_per_s_per_gpu(2)",
            "mfu": "the step events' mfu (docs/speed.md: real tokens/s x FLOPs of a token / (peak x N)), median after the "
                   "warm-up; the baseline: its tokens/s per GPU x whet's flops_per_token / --peak-tflops",
            "mem_peak_gib": "rank 0's torch.cuda.max_memory_allocated since its start (step events): random_init builds "
                            "the whole model on every GPU before sharding, so under zero3 this includes that build; "
                            "mem_peak_reserved_gib: max_memory_reserved; mem_allocated_after_step_max_gib: what stays "
                            "allocated between steps; gpu_mem_used_gib_max: nvidia-smi memory.used per GPU (every GPU "
                            "of the run, every 3 s, CUDA context included)",
            "predicted_peak_gib": "whet plan CONFIG --gpus N --json: per_gpu.peak_gib for the same keys (the whole GPU: "
                                  "CUDA context and NCCL buffers included, as nvidia-smi counts); reserved_over_predicted: "
                                  "mem_peak_reserved_gib (without those) over it; nvidia_smi_over_predicted: the largest "
                                  "memory.used over it (sampled every 3 s, so a short peak can be missed)",
            "comm_wait_time_p50_s": "the step's wait at its loss all-reduce for the slowest rank (median)",
            "stopped_by_bench": "measured: whet and its ranks SIGKILLed once the last step was reported (no export); "
                                "timeout / budget: stopped before",
        },
        "goals": {"weak scaling efficiency 1->2 min": GOALS["1->2"], "weak scaling efficiency 2->8 min": GOALS["2->8"]},
        "cases": [],
        "complete": False,
    }
    runner = Runner(o, out_path or os.devnull, doc)
    bench = Bench(o, runner)
    if o.dry_run:
        return dry_run(o, bench, runner)
    doc["versions"], doc["hardware"] = versions_and_hardware(o)
    doc["gpus_visible"] = o.gpus_visible
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: runner.on_signal(signum))
    bench.prepare()
    runner.write()
    cases = {}
    for name in o.cases:
        c = CASES[name]
        case = {"case": name, "kind": c["kind"], "device": o.device, "shape_name": bench.shape_of(c),
                "shape": model_config(bench.shape_of(c)), "status": "running"}
        doc["cases"].append(case)
        cases[name] = case
        runner.write()
        try:
            if "whet" in o.sides or c["kind"] in ("resume", "kill"):
                if c["kind"] == "weak":
                    bench.throughput(name, c, o.gpus, case)
                elif c["kind"] == "big":
                    bench.throughput(name, c, o.big_gpus, case)
                elif c["kind"] == "resume":
                    bench.resume(name, c, case)
                else:
                    bench.kill(name, c, case)
            case["status"] = _case_status(case)
        except Exception as e:  # noqa: BLE001: the next case may still run
            import traceback

            case.update(status="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-4000:])
        runner.write()
    if "baseline" in o.sides:
        for name in o.cases:
            c, case = CASES[name], cases[name]
            if c["kind"] not in ("weak", "big"):
                continue
            if "config_file" not in case:  # the whet side did not run here: the same config, for the spec
                mb, acc = bench.mb_acc(c)
                case["config_file"], case["config"] = bench.config(name, c, {"per_device_train_batch_size": mb,
                                                                             "gradient_accumulation_steps": acc,
                                                                             "max_steps": o.steps})
            try:
                ns = o.gpus if c["kind"] == "weak" else o.big_gpus
                bench.baseline(name, c, [n for n in ns if n in o.baseline_gpus] if o.baseline_gpus else ns, case)
            except Exception as e:  # noqa: BLE001
                import traceback

                case.update(baseline_error=f"{type(e).__name__}: {e}", baseline_traceback=traceback.format_exc()[-4000:])
            runner.write()
    doc["complete"] = True
    runner.write()
    print(json.dumps({"wrote": out_path}), flush=True)
    return 0


def _case_status(case: dict) -> str:
    if case.get("status") == "skipped":
        return "skipped"
    runs = case.get("runs") or []
    if not runs:
        return "no runs"
    st = [r.get("status") for r in runs]
    if case["kind"] == "kill":
        return "ok" if all(s in ("ok", "failed") for s in st) else "incomplete"
    if case["kind"] == "resume":
        comp = case.get("comparison") or {}
        return "ok" if comp and all(v.get("within_rtol") for v in comp.values()) and st[0] == "ok" else "incomplete"
    return "ok" if all(s == "ok" for s in st) else "incomplete"


def dry_run(o, bench: Bench, runner: Runner) -> int:
    """The commands and configs each case would run, and a rough wall time per run."""
    bench.data = os.path.join(o.work, "data", "chat.jsonl")
    bench.models = {s: os.path.join(o.work, "models", s) for s in SHAPES}
    total = 0.0
    print(f"device {o.device}; weak-scaling N {o.gpus}; 32B N {o.big_gpus}; sides {o.sides}; work {o.work}")
    for name in o.cases:
        c = CASES[name]
        shape = bench.shape_of(c)
        mb, acc = bench.mb_acc(c)
        keys = {"model_name_or_path": os.path.join(o.work, "models", shape), "random_init": True, "dataset": bench.data,
                "cutoff_len": o.seq_len, "packing": True, "learning_rate": c["lr"], "bf16": o.device == "cuda", **c["keys"]}
        print(f"\n== {name} ({c['kind']}, shape {shape}: {json.dumps(SHAPES[shape])})")
        print("   config: " + ", ".join(f"{k}={_kv(v)}" for k, v in keys.items()))
        cfg = os.path.join(o.work, "configs", f"{name}.yaml")
        if c["kind"] in ("weak", "big"):
            ns = o.gpus if c["kind"] == "weak" else o.big_gpus
            for n in ns:
                over = {"per_device_train_batch_size": mb, "gradient_accumulation_steps": acc, "max_steps": o.steps,
                        "output_dir": bench.run_dir(name, f"n{n}")}
                est = c["est_s"] + (25 if n > 1 else 0)
                total += est
                print(f"   N={n} (~{est:.0f}s): {_shell(runner.train_argv(cfg, over, n), {'CUDA_VISIBLE_DEVICES': ','.join(map(str, range(n)))} if o.device == 'cuda' else None)}")
                if "baseline" in o.sides and isinstance(c.get("baseline"), str):
                    print(f"   N={n} baseline: {c['baseline']}")
                elif "baseline" in o.sides and (not o.baseline_gpus or n in o.baseline_gpus):
                    total += 60
                    print(f"   N={n} baseline (~60s): bench/speed.py --side baseline" + (f" under torchrun --nproc-per-node {n}" if n > 1 else ""))
        elif c["kind"] == "resume":
            runs = (1 if o.resume_stop == "none" else 2) + len(o.resume_to)
            est = runs * (c["est_s"] + 25)
            total += est
            print(f"   {o.resume_from} processes, checkpoint at step {o.resume_steps // 2} of {o.resume_steps}, stop: "
                  f"{o.resume_stop}, resumed on {o.resume_to} (~{est:.0f}s, {runs} runs)")
        else:
            est = len(o.kill_modes) * (c["est_s"] + 30) + (c["est_s"] if "fault-exit" in o.kill_modes else 0)
            total += est
            print(f"   {o.kill_nproc} processes, modes {o.kill_modes} (~{est:.0f}s)")
    print(f"\nestimated wall time ~{total:.0f}s (rough: H200s, warm compile cache after the first run of a shape)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

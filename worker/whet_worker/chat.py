"""python -m whet_worker chat --model DIR [--base-model DIR]: generation for `whet chat`.

The CLI renders the chat template and tokenizes (as for training); this process only holds the
model and generates. It speaks NDJSON: one request per stdin line
    {"input_ids": [...], "max_new_tokens": N, "stop_ids": [...], "temperature": 0}
answered on stdout by one {"type": "token", "id": K} per generated token (as soon as it exists)
and then {"type": "end", "reason": "stop" | "length", "new_tokens": N}. It starts with
{"type": "ready", ...}; a failure is one {"type": "error", "code", "message"} line and exit 1.
"""

import json
import os
import sys

from .errors import WorkerError

EXIT_FAILED = 1


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def load(model_dir: str, base_dir, device):
    from transformers import AutoModelForCausalLM

    if not os.path.isfile(os.path.join(model_dir, "config.json")) and not os.path.isfile(
        os.path.join(model_dir, "adapter_config.json")
    ):
        raise WorkerError("MODEL_INVALID", f"{model_dir} holds neither config.json nor adapter_config.json")
    adapter = os.path.isfile(os.path.join(model_dir, "adapter_config.json"))
    try:
        if adapter:
            from peft import PeftModel

            if not base_dir:
                raise WorkerError("MODEL_INVALID", f"{model_dir} is a LoRA adapter; its base model folder is needed too")
            base = AutoModelForCausalLM.from_pretrained(base_dir, dtype="auto")
            model = PeftModel.from_pretrained(base, model_dir)
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    except WorkerError:
        raise
    except Exception as e:  # noqa: BLE001 - a folder transformers cannot read is the user's problem to fix
        raise WorkerError("MODEL_INVALID", f"transformers cannot load {model_dir}: {type(e).__name__}: {e}") from None
    model.to(device).eval()
    return model


class _IdStreamer:
    """Receives generate()'s tokens as they are made; the first call is the prompt."""

    def __init__(self):
        self.prompt_seen = False
        self.count = 0

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for t in value.reshape(-1).tolist():
            self.count += 1
            _emit({"type": "token", "id": int(t)})

    def end(self) -> None:
        pass


def generate(model, device, req: dict) -> None:
    import torch
    from transformers import GenerationConfig

    ids = torch.tensor([req["input_ids"]], dtype=torch.long, device=device)
    stop = [int(i) for i in req.get("stop_ids") or []]
    temperature = float(req.get("temperature") or 0)
    cfg = GenerationConfig(
        max_new_tokens=int(req["max_new_tokens"]),
        do_sample=temperature > 0,
        eos_token_id=stop or None,
        pad_token_id=stop[0] if stop else None,
        **({"temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0 else {}),
    )
    if temperature > 0:
        torch.manual_seed(int(req.get("seed", 0)))
    streamer = _IdStreamer()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=cfg, streamer=streamer)
    new = out[0, ids.shape[1] :].tolist()
    reason = "stop" if new and new[-1] in stop else "length"
    _emit({"type": "end", "reason": reason, "new_tokens": len(new)})


def main(model_dir: str, base_dir, device_name: str) -> int:
    try:
        import torch

        device = torch.device(device_name if device_name != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
        model = load(model_dir, base_dir, device)
        _emit({"type": "ready", "device": str(device), "dtype": str(next(model.parameters()).dtype).replace("torch.", "")})
        for line in sys.stdin:
            if not line.strip():
                continue
            generate(model, device, json.loads(line))
        return 0
    except WorkerError as e:
        _emit({"type": "error", "code": e.code, "message": e.message})
        return EXIT_FAILED
    except Exception as e:  # noqa: BLE001 - the CLI shows the message; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        _emit({"type": "error", "code": "INTERNAL", "message": f"{type(e).__name__}: {e}"})
        return EXIT_FAILED

"""python -m whet_doctor {env,p2p,matmul,collectives}: measurements only, as JSON. No verdicts here."""
import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def env(_args):
    out = {
        "python": {"executable": sys.executable, "version": platform.python_version()},
        "packages": {d: _version(d) for d in ("transformers", "peft", "deepspeed", "safetensors", "numpy")},
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torch": None,
    }
    try:
        import torch
    except Exception as e:  # a broken install is a finding, not a crash
        out["torch_error"] = f"{type(e).__name__}: {e}"
        return out
    cuda = torch.cuda.is_available()
    nccl = None
    if cuda and torch.distributed.is_nccl_available():
        v = torch.cuda.nccl.version()
        nccl = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
    devices = []
    for i in range(torch.cuda.device_count() if cuda else 0):
        p = torch.cuda.get_device_properties(i)
        devices.append({"index": i, "name": p.name, "capability": f"{p.major}.{p.minor}",
                        "memory_bytes": p.total_memory, "multiprocessors": p.multi_processor_count})
    out["torch"] = {
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "device_count": torch.cuda.device_count() if cuda else 0,
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
        "nccl": nccl,
        "nccl_available": torch.distributed.is_nccl_available(),
        "gloo_available": torch.distributed.is_gloo_available(),
        "devices": devices,
        "threads": torch.get_num_threads(),
    }
    return out


def p2p(args):
    import torch
    from whet_doctor.comm import p2p_pairs
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"device_count": n, "bytes": args.bytes, "pairs": p2p_pairs(n, args.bytes)}


def matmul(args):
    """TFLOP/s of an n×n×n bf16 matmul on every visible GPU, timed with CUDA events."""
    import torch
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device", "devices": []}
    n, rows = args.n, []
    for i in range(torch.cuda.device_count()):
        dev = torch.device("cuda", i)
        a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        for _ in range(args.warmup):
            a @ b
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(dev)
        start.record()
        for _ in range(args.iters):
            a @ b
        end.record()
        torch.cuda.synchronize(dev)
        seconds = start.elapsed_time(end) / 1e3
        rows.append({"index": i, "name": torch.cuda.get_device_name(dev), "n": n, "iters": args.iters,
                     "seconds": seconds, "tflops": 2 * n**3 * args.iters / seconds / 1e12})
        del a, b
        torch.cuda.empty_cache()
    return {"devices": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m whet_doctor")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env")
    p = sub.add_parser("p2p")
    p.add_argument("--bytes", type=int, default=64 << 20)
    m = sub.add_parser("matmul")
    m.add_argument("--n", type=int, default=8192)
    m.add_argument("--iters", type=int, default=50)
    m.add_argument("--warmup", type=int, default=5)
    c = sub.add_parser("collectives", help="run under torchrun")
    c.add_argument("--out", required=True, help="rank 0 writes the JSON result here")
    c.add_argument("--ops", default="all_reduce,all_gather,reduce_scatter")
    c.add_argument("--min-bytes", type=int, default=1 << 20)
    c.add_argument("--max-bytes", type=int, default=1 << 30)
    c.add_argument("--factor", type=int, default=4)
    c.add_argument("--target-bytes", type=int, default=8 << 30, help="bytes moved per size: sets the iteration count")
    c.add_argument("--max-iters", type=int, default=50)
    c.add_argument("--backend", choices=["auto", "nccl", "gloo"], default="auto")
    c.add_argument("--timeout-s", type=int, default=120)
    args = ap.parse_args(argv)
    if args.cmd == "collectives":
        from whet_doctor.comm import collectives
        collectives(args)
        return 0
    t0 = time.perf_counter()
    result = {"env": env, "p2p": p2p, "matmul": matmul}[args.cmd](args)
    result["probe_seconds"] = time.perf_counter() - t0
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""GPU-to-GPU probes: a checksummed peer copy per pair, and collective timings under torchrun.
Times are raw (seconds per call, max over ranks); the bus-bandwidth arithmetic lives in TypeScript."""
import json
import os
import time
from datetime import timedelta

import torch
import torch.distributed as dist


def p2p_pairs(n, nbytes):
    """Copy random data from every GPU to every other and compare it exactly with the source."""
    pairs = []
    numel = nbytes // 4
    for src in range(n):
        g = torch.Generator(device=f"cuda:{src}").manual_seed(src)
        data = torch.rand(numel, device=f"cuda:{src}", generator=g) + 1  # never zero: a dropped copy shows
        for dst in range(n):
            if src == dst:
                continue
            out = torch.empty(numel, device=f"cuda:{dst}")
            out.copy_(data)  # warm the path (peer mapping happens on first use)
            torch.cuda.synchronize(src), torch.cuda.synchronize(dst)
            t0 = time.perf_counter()
            out.copy_(data)
            torch.cuda.synchronize(src), torch.cuda.synchronize(dst)
            seconds = time.perf_counter() - t0
            back = out.to(f"cuda:{src}")
            pairs.append({
                "src": src, "dst": dst,
                "peer_access": torch.cuda.can_device_access_peer(src, dst),
                "match": bool(torch.equal(back, data)),
                "checksum_src": float(data.double().sum()),
                "checksum_dst": float(back.double().sum()),
                "zeros": int((back == 0).sum()),
                "seconds": seconds,
            })
    return pairs


def _fill(t, rank):
    t.fill_(rank + 1)
    return t


def _expect(op, world, rank, out):
    """True when the op's output has the values it must: sums 1+...+n, gathers chunk i == i+1."""
    total = world * (world + 1) / 2
    if op == "all_gather":
        want = torch.arange(1, world + 1, dtype=out.dtype, device=out.device).repeat_interleave(out.numel() // world)
        return bool(torch.equal(out, want))
    return bool((out == total).all())


# torch 2.13 renamed these (the old names warn); the GPU machine's 2.11 has only the old ones.
_all_gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_reduce_scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


def _run(op, buf, out, world):
    if op == "all_reduce":
        dist.all_reduce(buf)
    elif op == "all_gather":
        _all_gather(out, buf)
    else:
        _reduce_scatter(out, buf)


def _buffers(op, nbytes, world, device):
    """`nbytes` is the whole buffer as nccl-tests sizes it: all-gather output, reduce-scatter input."""
    numel = nbytes // 4 // world * world
    if op == "all_reduce":
        return torch.empty(numel, device=device), None
    if op == "all_gather":
        return torch.empty(numel // world, device=device), torch.empty(numel, device=device)
    return torch.empty(numel, device=device), torch.empty(numel // world, device=device)


def collectives(args):
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = args.backend == "nccl" or (args.backend == "auto" and torch.cuda.is_available())
    backend = "nccl" if use_cuda else "gloo"
    device = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    kw = {"device_id": device} if use_cuda else {}
    dist.init_process_group(backend, timeout=timedelta(seconds=args.timeout_s), **kw)
    sync = (lambda: torch.cuda.synchronize(device)) if use_cuda else (lambda: None)
    sizes, s = [], args.min_bytes
    while s <= args.max_bytes:
        sizes.append(s)
        s *= args.factor
    results = []
    for op in args.ops.split(","):
        for nbytes in sizes:
            buf, out = _buffers(op, nbytes, world, device)
            real = (out.numel() if op == "all_gather" else buf.numel()) * 4
            _fill(buf, rank)
            _run(op, buf, out, world)
            ok = _expect(op, world, rank, buf if op == "all_reduce" else out)
            iters = max(2, min(args.max_iters, args.target_bytes // real))
            buf.zero_()  # timing on zeros: repeated sums of rank values would overflow
            for _ in range(2):
                _run(op, buf, out, world)
            sync()
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(iters):
                _run(op, buf, out, world)
            sync()
            seconds = (time.perf_counter() - t0) / iters
            stats = torch.tensor([seconds, 0.0 if ok else 1.0], dtype=torch.float64, device=device)
            dist.all_reduce(stats, op=dist.ReduceOp.MAX)
            results.append({"op": op, "bytes": real, "iters": iters, "seconds": stats[0].item(), "checksum_ok": stats[1].item() == 0})
            del buf, out
    if rank == 0:
        info = {"backend": backend, "world_size": world, "device": str(device.type), "dtype": "float32",
                "torch": torch.__version__, "nccl": ".".join(map(str, torch.cuda.nccl.version())) if use_cuda else None,
                "results": results}
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, args.out)
    dist.barrier()
    dist.destroy_process_group()

"""A plain torch.distributed all-reduce timing loop, the yardstick for whet doctor's figure.
Same sizes, dtype (float32) and bus-bandwidth formula as nccl-tests (busbw = bytes/time x 2(n-1)/n),
nothing shared with whet_doctor's code. Run under torchrun; rank 0 writes --out.
  python -m torch.distributed.run --standalone --nproc-per-node N bench/allreduce_plain.py --out F"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--warmup", type=int, default=5)
args = ap.parse_args()

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
torch.cuda.set_device(device)
dist.init_process_group("nccl", device_id=device)
rows = []
for nbytes in [1 << s for s in range(20, 31, 2)]:  # 1 MiB .. 1 GiB, x4
    x = torch.zeros(nbytes // 4, device=device)
    for _ in range(args.warmup):
        dist.all_reduce(x)
    torch.cuda.synchronize()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.iters):
        dist.all_reduce(x)
    torch.cuda.synchronize()
    t = torch.tensor([(time.perf_counter() - t0) / args.iters], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    seconds = t.item()
    algbw = nbytes / seconds / 1e9
    rows.append({"bytes": nbytes, "seconds": seconds, "algbw": algbw, "busbw": algbw * 2 * (world - 1) / world})
    del x
if rank == 0:
    with open(args.out, "w") as f:
        json.dump({"world_size": world, "torch": torch.__version__, "nccl": ".".join(map(str, torch.cuda.nccl.version())),
                   "gpu": torch.cuda.get_device_name(device), "iters": args.iters,
                   "nccl_env": {k: v for k, v in os.environ.items() if k.startswith("NCCL_")}, "rows": rows}, f, indent=1)
dist.barrier()
dist.destroy_process_group()

"""What `numerics.monitor.Monitor` costs per call, next to a training step of the same model.

For each case (the kit's VAE-3 on PCA-ring, D = 10; VAE-1 on the MNIST subset, D = 784; a plain
nn.Module VAE on PCA-ring whose coverage is probed; 50-unit hidden layers, float32 training as in the
fast protocol's warm-up) it times: a training step (Adam on a
mini-batch of --batch points, 8 reparametrised samples each), the monitor's first call (with the
coverage decision), a diagnosing call (median of --calls) and a skipped call (every > 1), and prints
the overhead per step at every = 1, 10, 100. One torch thread.

    python benchmarks/monitor_overhead.py [--val 1000] [--batch 100] [--calls 10] [--json]
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics import estimators  # noqa: E402
from numerics.cli import OneLineParser  # noqa: E402
from numerics.data import load_data  # noqa: E402
from numerics.models import build_model  # noqa: E402
from numerics.monitor import Monitor  # noqa: E402

CASES = (("vae3", "ring"), ("vae1", "mnist"), ("user", "ring"))


class UserVAE(torch.nn.Module):
    """A practitioner's VAE: nn.Linear layers, exp variance heads, z-dependent decoder variance."""

    def __init__(self, D: int, H: int, width: int = 50) -> None:
        super().__init__()
        lin = torch.nn.Linear
        self.enc = torch.nn.Sequential(lin(D, width), torch.nn.ReLU(), lin(width, 2 * H))
        self.dec = torch.nn.Sequential(lin(H, width), torch.nn.ReLU(), lin(width, 2 * D))

    def encode(self, x):
        mean, log_var = self.enc(x).chunk(2, -1)
        return mean, log_var.exp()

    def decode(self, z):
        mean, log_var = self.dec(z).chunk(2, -1)
        return mean, log_var.exp()


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(kind: str, data: str, n_val: int, batch: int, calls: int) -> dict:
    ds = load_data(data, seed=0, n_train=max(n_val, batch), n_test=0, dtype=torch.float32)
    x = ds.x_train
    torch.manual_seed(0)
    model = (UserVAE(x.shape[1], 2) if kind == "user" else
             build_model(kind, x.shape[1], 2, dtype=torch.float32, generator=torch.Generator().manual_seed(0)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)

    def step() -> None:
        xb = x[:batch]
        loss = -estimators.elbo_objective(model, xb, estimators.mc_design(8, batch, 2, generator=gen,
                                                                          dtype=torch.float32))
        opt.zero_grad()
        loss.backward()
        opt.step()

    step_times = [_timed(step) for _ in range(calls + 2)][2:]
    monitor = Monitor(model, x[:n_val], every=1)
    first = _timed(monitor)
    diagnosing = [_timed(monitor) for _ in range(calls)]
    sparse = Monitor(model, x[:n_val], every=10 ** 9)
    sparse()
    skipped = [_timed(sparse) for _ in range(1000)]
    step_s, call_s = statistics.median(step_times), statistics.median(diagnosing)
    return {"model": kind, "data": data, "D": int(x.shape[1]), "val_points": n_val, "batch": batch,
            "step_seconds": step_s, "first_call_seconds": first, "call_seconds": call_s,
            "skipped_call_seconds": statistics.median(skipped),
            "overhead_per_step": {str(every): call_s / every / step_s for every in (1, 10, 100)}}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="benchmarks/monitor_overhead.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--val", type=int, default=1000, help="validation points the monitor diagnoses")
    parser.add_argument("--batch", type=int, default=100, help="training mini-batch size")
    parser.add_argument("--calls", type=int, default=10, help="timed calls per figure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for name in ("val", "batch", "calls"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    torch.set_num_threads(1)
    results = [measure(kind, data, args.val, args.batch, args.calls) for kind, data in CASES]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        over = r["overhead_per_step"]
        print(f"{r['model']} on {r['data']} (D = {r['D']}), {r['val_points']} validation points: training step "
              f"{1e3 * r['step_seconds']:.1f} ms (batch {r['batch']}); monitor call {1e3 * r['call_seconds']:.0f} ms "
              f"(first {1e3 * r['first_call_seconds']:.0f} ms with the coverage decision), skipped call "
              f"{1e6 * r['skipped_call_seconds']:.1f} us; overhead per step: every=1 {over['1']:.2f}x, "
              f"every=10 {100 * over['10']:.0f} %, every=100 {100 * over['100']:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Polishing study: which fixed design and L-BFGS history bring a VAE closest to stationarity, per second.

From ONE Adam warm start (the fast protocol's warm-up phases), runs L-BFGS (strong Wolfe, 25 iterations
per step) on each fixed design for --seconds of optimiser time, and after every step prints the ELBO and
gap on the design itself (what the optimiser sees) and on an independent randomised-QMC evaluation
(`numerics.verify.evaluate_fresh`, K = --eval-samples per point, with its standard error). Their
difference is the design bias: how far the design's optimum is from one of the true ELBO.

    python benchmarks/polish_study.py [--model vae3] [--seconds 90] [--designs gh:3,gh:4,rqmc:8]
                                      [--history 200] [--hidden 50,50] [--n-train N]

The numbers quoted in `numerics.protocols` come from this script (VAE-3, PCA-ring, 2-core CPU).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics.cli import OneLineParser  # noqa: E402
from numerics import estimators  # noqa: E402
from numerics.data import load_data  # noqa: E402
from numerics.models import build_model  # noqa: E402
from numerics.protocols import get_protocol  # noqa: E402
from numerics.rundir import RunDir  # noqa: E402
from numerics.training import Trainer  # noqa: E402
from numerics.verify import DEFAULT_DATA, chunk_for, evaluate_fresh  # noqa: E402


def make_design(spec: str, n: int, H: int, seed: int) -> estimators.Design:
    """'gh:4' (Gauss-Hermite, 4 nodes per latent dimension), 'rqmc:8' or 'mc:8' (per data point)."""
    kind, size = spec.split(":")
    gen = torch.Generator().manual_seed(seed)
    if kind == "gh":
        return estimators.gauss_hermite_design(int(size), H)
    if kind == "rqmc":
        return estimators.rqmc_design(int(size), n, H, replicates=1, generator=gen)
    if kind == "mc":
        return estimators.mc_design(int(size), n, H, generator=gen)
    raise ValueError(f"unknown design {spec!r}; valid: gh:N, rqmc:N, mc:N")


def polish(model, x: torch.Tensor, design: estimators.Design, seconds: float, history: int, eval_k: int) -> None:
    params = list(model.parameters())
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=25, history_size=history, tolerance_grad=1e-14,
                            tolerance_change=1e-16, line_search_fn="strong_wolfe")
    n, chunk = x.shape[0], chunk_for(design.K, estimators.row_width(model))

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)
        total = torch.zeros((), dtype=x.dtype)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            loss = -estimators.elbo_objective(model, x[a:b], estimators.slice_design(design, slice(a, b))) * ((b - a) / n)
            loss.backward()
            total = total + loss.detach()
        return total

    elapsed = 0.0
    while True:
        with torch.no_grad():
            ind = estimators.evaluate(model, x, design, chunk_size=chunk)
        fr = evaluate_fresh(model, x, eval_k, seed=12345)
        print(f"  t={elapsed:6.1f}s  in-design F={float(ind.elbo):.6f} gap={float(ind.gap):+.2e}  |  fresh "
              f"F={fr['elbo']:.6f} gap={fr['gap']:+.2e} (SE {fr['gap_se']:.1e}) rel_gap={abs(fr['gap']) / abs(fr['elbo']):.1e} "
              f"r_dec={fr['residual_decoder']:+.2e} r_h=[{', '.join(f'{r:+.1e}' for r in fr['residual_prior'])}]",
              flush=True)
        if elapsed >= seconds:
            return
        t0 = time.perf_counter()
        opt.step(closure)
        elapsed += time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vae3", choices=("vae1", "vae2", "vae3"))
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--designs", default="gh:3,gh:4,rqmc:8")
    parser.add_argument("--history", type=int, default=200)
    parser.add_argument("--hidden", default="50,50")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--eval-samples", type=int, default=128)
    args = parser.parse_args(argv)
    for spec in args.designs.split(","):
        kind, _, size = spec.partition(":")
        if kind not in ("gh", "rqmc", "mc") or not size.isdigit() or int(size) < 1:
            parser.error(f"unknown design {spec!r}; valid: gh:N, rqmc:N, mc:N (N >= 1)")
    torch.set_num_threads(1)
    data = load_data(DEFAULT_DATA[args.model], n_train=args.n_train, n_test=0)
    x = data.x_train
    hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    model = build_model(args.model, x.shape[1], 2, hidden=hidden, generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        Trainer(model, x, get_protocol("fast", args.model, steps=0), RunDir(Path(tmp)), seed=0, progress=False).run()
    print(f"warm start (fast protocol's Adam phases): {time.perf_counter() - t0:.1f} s", flush=True)
    warm = {k: v.clone() for k, v in model.state_dict().items()}
    for spec in args.designs.split(","):
        print(f"design {spec}, L-BFGS history {args.history}:", flush=True)
        model.load_state_dict(warm)
        polish(model, x, make_design(spec, x.shape[0], model.H, seed=999), args.seconds, args.history,
               args.eval_samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())

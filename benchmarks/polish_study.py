"""Polishing study: which fixed design, L-BFGS history and preconditioner bring a VAE closest to stationarity, per second.

From ONE Adam warm start (the fast protocol's warm-up phases), or from the last checkpoint of a finished
run (--start RUN_DIR), runs L-BFGS (strong Wolfe, 25 iterations per step) on each fixed design and with
each preconditioner for --seconds of optimiser time, and after every step prints the ELBO, the gap and the
decoder residual on the design itself (what the optimiser sees) and on an independent randomised-QMC
evaluation (`numerics.verify.evaluate_fresh`, K = --eval-samples per point, with its standard error) with
the residuals r_dec = (D/2) r_sigma and r_h. The in-design minus fresh difference is the design bias: how far the
design's optimum is from one of the true ELBO.

Preconditioners (L-BFGS runs on phi with theta = theta_0 + s * phi, elementwise):
  none            s = 1.
  jacobi:P        s = |diag H|^(-1/2), diag H estimated by Hutchinson's method with P Rademacher probes on
                  the design (floored at 1e-3 x its mean absolute value), normalised to median 1: generic.
  scale:NAME:C    s = C for the parameter NAME (e.g. scale:sigma2_raw:20, i.e. sigma^2 = exp(C r)), 1 elsewhere:
                  aimed at one direction, so a diagnostic only, never a protocol.

    python benchmarks/polish_study.py [--model vae3] [--seconds 90] [--designs gh:3,gh:4,rqmc:8]
                                      [--preconditioners none,jacobi:8] [--history 200] [--hidden 50,50]
                                      [--n-train N] [--start RUN_DIR]

The polishing numbers quoted in `numerics.protocols` come from this script (VAE-3 on PCA-ring, VAE-1 on
MNIST; 2-core CPU).
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics import limits  # noqa: E402
from numerics.cli import OneLineParser  # noqa: E402
from numerics import estimators  # noqa: E402
from numerics.data import load_data  # noqa: E402
from numerics.models import build_model  # noqa: E402
from numerics.protocols import get_protocol  # noqa: E402
from numerics.rundir import RunDir, load_run  # noqa: E402
from numerics.soft_modes import ChunkedObjective  # noqa: E402
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


def hutchinson_diagonal(objective: ChunkedObjective, probes: int) -> list[torch.Tensor]:
    """E[v * (H v)] over `probes` Rademacher vectors v: an unbiased estimate of the Hessian's diagonal."""
    gen = torch.Generator().manual_seed(5)
    n = sum(p.numel() for p in objective.params)
    diag = torch.zeros(n, dtype=objective.x.dtype)
    for _ in range(probes):
        v = (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).to(objective.x.dtype)
        diag += v * objective.hvp(v).detach() / probes
    return [d.view_as(p) for d, p in zip(diag.split([p.numel() for p in objective.params]), objective.params)]


def preconditioner(spec: str, objective: ChunkedObjective) -> list[torch.Tensor]:
    """The elementwise scale s of theta = theta_0 + s * phi for `spec` (see the module docstring)."""
    kind, _, arg = spec.partition(":")
    scales = [torch.ones_like(p) for p in objective.params]
    if kind == "jacobi":
        diag = hutchinson_diagonal(objective, int(arg))
        floor = 1e-3 * float(torch.cat([d.reshape(-1) for d in diag]).abs().mean())
        scales = [d.abs().clamp_min(floor) ** -0.5 for d in diag]
        median = float(torch.cat([s.reshape(-1) for s in scales]).median())
        scales = [s / median for s in scales]
    elif kind == "scale":
        name, _, factor = arg.partition(":")
        names = [k for k, _ in objective.model.named_parameters()]
        scales[names.index(name)].fill_(float(factor))
    return scales


def polish(model, x: torch.Tensor, design: estimators.Design, seconds: float, history: int, eval_k: int,
           precondition: str = "none") -> None:
    chunk = chunk_for(design.K, estimators.row_width(model))
    objective = ChunkedObjective(model, x, design, chunk)
    params = objective.params
    t0 = time.perf_counter()
    scales = preconditioner(precondition, objective)
    if precondition != "none":
        print(f"  preconditioner {precondition}: {time.perf_counter() - t0:.1f} s, scales "
              f"{min(float(s.min()) for s in scales):.2e} to {max(float(s.max()) for s in scales):.2e}", flush=True)
    theta0 = [p.detach().clone() for p in params]
    phi = [torch.zeros_like(p, requires_grad=True) for p in params]
    opt = torch.optim.LBFGS(phi, lr=1.0, max_iter=25, history_size=history, tolerance_grad=1e-14,
                            tolerance_change=1e-16, line_search_fn="strong_wolfe")

    def assign() -> None:
        with torch.no_grad():
            for p, t, s, f in zip(params, theta0, scales, phi):
                p.copy_(t + s * f)

    def closure() -> torch.Tensor:
        assign()
        model.zero_grad(set_to_none=False)
        total = torch.zeros((), dtype=x.dtype)
        for loss in objective.losses():
            loss.backward()
            total = total + loss.detach()
        for f, p, s in zip(phi, params, scales):   # chain rule: d(-F)/d phi = s * d(-F)/d theta
            f.grad = s * p.grad
        return total

    elapsed = 0.0
    while True:
        assign()
        with torch.no_grad():
            ind = estimators.evaluate(model, x, design, chunk_size=chunk)
        fr = evaluate_fresh(model, x, eval_k, seed=12345)
        print(f"  t={elapsed:6.1f}s  in-design F={float(ind.elbo):.6f} gap={float(ind.gap):+.2e} "
              f"r_dec={float(ind.residual_decoder):+.2e}  |  fresh "
              f"F={fr['elbo']:.6f} gap={fr['gap']:+.2e} (SE {fr['gap_se']:.1e}) rel_gap={abs(fr['gap']) / abs(fr['elbo']):.1e} "
              f"r_dec={fr['residual_decoder']:+.2e} r_h=[{', '.join(f'{r:+.1e}' for r in fr['residual_prior'])}]",
              flush=True)
        if elapsed >= seconds:
            return
        t0 = time.perf_counter()
        opt.step(closure)
        elapsed += time.perf_counter() - t0


BOUNDS = {**limits.BOUNDS, "--seconds": limits.Bound(0.0, 1e9, integer=False, low_open=True),
          "--history": limits.Bound(1, 100_000)}
"""The ranges of this script's options (numerics.limits' where the option is the kit's)."""


def _check_memory(model: str, hidden: tuple[int, ...], n_train: int | None, designs: list[str], eval_samples: int,
                  data_dim: int | None = None) -> None:
    """numerics.limits.check_memory of the warm start, the polishing designs and the fresh evaluation."""
    data = DEFAULT_DATA[model]
    sizes = [limits.DesignSize(int(spec.partition(":")[2]), per_point=not spec.startswith("gh"),
                               power=spec.startswith("gh"), option="--designs") for spec in designs]
    workload = limits.workload_for_protocol(
        get_protocol("fast", model, steps=0), model=model, data_dim=data_dim or (784 if data == "mnist" else 10), latent_dim=2,
        hidden=hidden, n_train=n_train or (4000 if data == "mnist" else 10_000), n_test=0, eval_samples=eval_samples,
        chunk_rows=8192, options={"hidden": "--hidden", "n_train": "--n-train"})
    limits.check_memory(replace(workload, designs=workload.designs + tuple(sizes)))


def _is_positive(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vae3", choices=("vae1", "vae2", "vae3"))
    parser.add_argument("--seconds", type=limits.argparse_type("--seconds", BOUNDS), default=90.0)
    parser.add_argument("--designs", default="gh:3,gh:4,rqmc:8")
    parser.add_argument("--history", type=limits.argparse_type("--history", BOUNDS), default=200)
    parser.add_argument("--hidden", type=limits.argparse_type("--hidden"), default=(50, 50))
    parser.add_argument("--n-train", type=limits.argparse_type("--n-train"), default=None)
    parser.add_argument("--eval-samples", type=limits.argparse_type("--eval-samples"), default=128)
    parser.add_argument("--preconditioners", default="none", help="comma-separated: none, jacobi:P, scale:NAME:C")
    parser.add_argument("--start", default=None, help="polish from this finished run's last checkpoint instead")
    args = parser.parse_args(argv)
    for spec in args.designs.split(","):
        kind, _, size = spec.partition(":")
        if kind not in ("gh", "rqmc", "mc") or not size.isdigit() or not 1 <= int(size) <= limits.MAX_SAMPLES:
            parser.error(f"unknown design {spec!r}; valid: gh:N, rqmc:N, mc:N (N from 1 to {limits.MAX_SAMPLES})")
    for spec in args.preconditioners.split(","):
        kind, _, arg = spec.partition(":")
        name, _, factor = arg.partition(":")
        if not (spec == "none" or kind == "jacobi" and arg.isdigit() and int(arg) >= 1
                or kind == "scale" and name and _is_positive(factor)):
            parser.error(f"unknown preconditioner {spec!r}; valid: none, jacobi:P (P >= 1), scale:NAME:C (C > 0)")
    if not args.start:
        try:
            _check_memory(args.model, args.hidden, args.n_train, args.designs.split(","), args.eval_samples)
        except limits.BoundsError as err:
            parser.error(str(err))
    torch.set_num_threads(1)
    if args.start:
        try:
            run = load_run(args.start)
        except (FileNotFoundError, OSError, ValueError) as exc:
            parser.error(f"--start: {exc}")
        if run.model is None or run.model.kind == "linear":
            parser.error(f"--start: {args.start} has no checkpoint of a vae1/vae2/vae3 model")
        model, x = run.model.double(), run.data[0].double()
        try:
            _check_memory(model.kind, tuple(run.config["hidden"]), x.shape[0], args.designs.split(","),
                          args.eval_samples, data_dim=x.shape[1])
        except limits.BoundsError as err:
            parser.error(str(err))
    else:
        data = load_data(DEFAULT_DATA[args.model], n_train=args.n_train, n_test=0)
        x = data.x_train
        model = build_model(args.model, x.shape[1], 2, hidden=args.hidden, generator=torch.Generator().manual_seed(0))
    names = [k for k, _ in model.named_parameters()]
    for spec in args.preconditioners.split(","):
        if spec.startswith("scale:") and spec.split(":")[1] not in names:
            parser.error(f"unknown parameter {spec.split(':')[1]!r}; valid: {', '.join(names)}")
    if args.start:
        print(f"start: {args.start} ({model.kind}, its last checkpoint)", flush=True)
    else:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            Trainer(model, x, get_protocol("fast", args.model, steps=0), RunDir(Path(tmp)), seed=0, progress=False).run()
        print(f"warm start (fast protocol's Adam phases): {time.perf_counter() - t0:.1f} s", flush=True)
    warm = {k: v.clone() for k, v in model.state_dict().items()}
    for spec in args.designs.split(","):
        for precondition in args.preconditioners.split(","):
            print(f"design {spec}, L-BFGS history {args.history}, preconditioner {precondition}:", flush=True)
            model.load_state_dict(warm)
            polish(model, x, make_design(spec, x.shape[0], model.H, seed=999), args.seconds, args.history,
                   args.eval_samples, precondition)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Link study: exp vs softplus variance links, tightly converged (fast protocol), residuals with SEs.

DESIGN.md "criterion": a network variance output f(a) is closed under the variance scalings iff f is
exp-like (exp, square, ...); softplus is not. The gap identity F - S = residual_decoder + 1/2 sum_h r_h
then says: with softplus heads the residuals need not vanish at a stationary point. This script trains
  vae3 (ring): decoder link exp vs softplus (encoder exp);
  vae3 (ring): encoder link exp vs softplus (decoder exp);
with the fast protocol and prints the fresh-sample residuals (decoder, prior) and the gap with SEs,
and the in-design gap on the L-BFGS design (which is what the optimiser actually made stationary).
With the default (Appendix C.3) networks every variant stops ~1e-3 from stationarity within minutes
(`numerics.protocols`), which hides a link effect of that size.

Part "tight" therefore repeats the comparison where a stationary point can be reached to round-off:
VAE-3 with AFFINE networks (no hidden layer: nu, log tau^2 / softplus^-1 tau^2, mu and the decoder
variance pre-activation are affine maps; 104 parameters), trained by Adam, then L-BFGS and damped
Newton (exact Hessian, `training.DampedNewton`) on a fixed Gauss-Hermite design until Newton stalls.
At that point the gradient is at round-off, so on the design the gap identity gives the exact gap of
the design's stationary point; the fresh rqmc evaluation adds the design bias with its SE. The data
are PCA-ring scaled by --scale (default 10): decoder variances then lie around 1e-2..1, where softplus
is far from exp-like (for tiny variances softplus(a) ~ exp(a) and the two links coincide).

    python benchmarks/link_study.py [--part default|tight|all] [--out DIR] [--n-train 10000] [--steps 8]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from numerics.cli import OneLineParser  # noqa: E402
from numerics import estimators  # noqa: E402
from numerics.data import load_data  # noqa: E402
from numerics.models import build_model  # noqa: E402
from numerics.protocols import Phase, Protocol  # noqa: E402
from numerics.rundir import RunDir  # noqa: E402
from numerics.training import Trainer  # noqa: E402
from numerics.evaluation import evaluate_fresh  # noqa: E402
from numerics.verdict import K_SE  # noqa: E402
from numerics.verify import run_verification  # noqa: E402

CASES = [("vae3", "ring", "exp", "exp"), ("vae3", "ring", "exp", "softplus"), ("vae3", "ring", "softplus", "exp")]


TIGHT_CASES = [("exp", "exp"), ("exp", "softplus"), ("softplus", "exp")]
TIGHT_GH = 4
"""Gauss-Hermite nodes per latent dimension of the tight part's design (16 nodes for H = 2)."""


def tight_protocol(newton_steps: int) -> Protocol:
    """Adam warm start, L-BFGS, then damped Newton to round-off, all on one Gauss-Hermite design."""
    return Protocol("tight", "float64", (
        Phase("adam", steps=100, lr=3e-3, batch_size=1000, log_every=100, checkpoint_every=100),
        Phase("lbfgs", steps=20, design="gauss-hermite", design_size=TIGHT_GH, history=100, inner_iters=50),
        Phase("newton", steps=newton_steps, design="gauss-hermite", design_size=TIGHT_GH)))


def tight(args: argparse.Namespace) -> None:
    """Affine-network VAE-3 per link pair, trained to a round-off stationary point (see the docstring)."""
    x = load_data("ring", n_train=args.n_train, n_test=0).x_train * args.scale
    print(f"tight: VAE-3, affine networks, PCA-ring x {args.scale:g}, N = {x.shape[0]}, "
          f"Gauss-Hermite {TIGHT_GH}x{TIGHT_GH}, fresh rqmc K = 512")
    print(f"{'enc':8s} {'dec':8s} {'|grad|':>8s} {'design gap':>11s} {'fresh gap':>11s} {'SE':>8s} {'|gap|/SE':>8s} "
          f"{'r_dec':>10s} {'r_prior':>22s} {'seconds':>7s}  zero within 4 SE?")
    for enc, dec in TIGHT_CASES:
        model = build_model("vae3", x.shape[1], 2, hidden=(), enc_link=enc, dec_link=dec,
                            generator=torch.Generator().manual_seed(0))
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = Trainer(model, x, tight_protocol(args.newton_steps), RunDir(Path(tmp)), seed=0,
                             progress=False).run()
        seconds = time.perf_counter() - t0
        design = estimators.gauss_hermite_design(TIGHT_GH, 2)
        loss = -estimators.elbo_objective(model, x, design)
        grad = torch.autograd.grad(loss, list(model.parameters()))
        gnorm = float(torch.cat([g.reshape(-1) for g in grad]).norm())
        with torch.no_grad():
            ind = estimators.evaluate(model, x, design)
        fr = evaluate_fresh(model, x, 512, seed=7)
        prior = ", ".join(f"{r:+.2e}" for r in fr["residual_prior"])
        zero = abs(fr["gap"]) <= K_SE * fr["gap_se"]
        stalled = result.phase_ends[-1]["stalled"] if result.phase_ends else False
        print(f"{enc:8s} {dec:8s} {gnorm:8.1e} {float(ind.gap):+11.3e} {fr['gap']:+11.3e} {fr['gap_se']:8.1e} "
              f"{abs(fr['gap']) / fr['gap_se']:8.1f} {fr['residual_decoder']:+10.3e} [{prior}] {seconds:7.0f}  "
              f"{'yes' if zero else 'NO'}{'' if stalled else ' (Newton not stalled: raise --newton-steps)'}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("default", "tight", "all"), default="all")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-links"))
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--eval-samples", type=int, default=None)
    parser.add_argument("--scale", type=float, default=10.0, help="tight part: data scale factor")
    parser.add_argument("--newton-steps", type=int, default=40, help="tight part: at most this many Newton steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.part in ("tight", "all"):
        tight(args)
    if args.part == "tight":
        return 0
    print(f"{'model':5s} {'enc':8s} {'dec':8s} {'gap':>11s} {'gap_se':>9s} {'|gap|/SE':>8s} {'r_dec':>11s} "
          f"{'r_prior':>24s} {'in-design gap':>13s} verdict")
    for model, data, enc, dec in CASES:
        path = args.out / f"{model}-enc_{enc}-dec_{dec}"
        if path.exists():
            shutil.rmtree(path)
        s = run_verification(model=model, data=data, device="cpu", out=path, progress=False, enc_link=enc,
                             dec_link=dec, n_train=args.n_train, steps=args.steps, eval_samples=args.eval_samples,
                             control=False)
        prior = ", ".join(f"{r:+.2e}" for r in s["residual_prior"])
        print(f"{model:5s} {enc:8s} {dec:8s} {s['gap']:+.3e} {s['gap_se']:9.1e} {abs(s['gap']) / s['gap_se']:8.1f} "
              f"{s['residual_decoder']:+.3e} [{prior}] {s['in_design']['gap']:+.2e} {s['status']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

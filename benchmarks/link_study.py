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

Part "tight" therefore repeats the comparison where a stationary point can be reached to round-off,
with `numerics.criterion.stationary_gap` (VAE-3 with affine networks on PCA-ring x 10, Adam, L-BFGS,
then damped Newton on a fixed Gauss-Hermite design until the gradient is at round-off): on the design
the gap identity then gives the exact gap of the design's stationary point, next to the exact bound
|grad F| sum |v| a covered link must stay under; the fresh rqmc evaluation adds the design bias with
its SE. Cases: the exp, softplus and the authors' softplus-std (sigma = softplus(a)) decoder links,
and a softplus encoder link.

    python benchmarks/link_study.py [--part default|tight|all] [--out DIR] [--n-train N] [--steps 8]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tempfile  # noqa: E402

import torch  # noqa: E402

from numerics.cli import OneLineParser  # noqa: E402
from numerics import criterion  # noqa: E402
from numerics.data import load_data  # noqa: E402
from numerics.rundir import RunDir  # noqa: E402
from numerics.evaluation import evaluate_fresh  # noqa: E402
from numerics.verify import run_verification  # noqa: E402

CASES = [("vae3", "ring", "exp", "exp"), ("vae3", "ring", "exp", "softplus"), ("vae3", "ring", "softplus", "exp")]


TIGHT_CASES = [("exp", "exp"), ("exp", "softplus"), ("exp", "softplus-std"), ("softplus", "exp")]


def tight(args: argparse.Namespace) -> None:
    """Affine-network VAE-3 per (encoder, decoder) link pair, trained to a round-off stationary point by
    `numerics.criterion.stationary_gap`; prints the design's gap, |grad F|, the exact bound and a fresh
    rqmc evaluation with its SE."""
    print(f"tight: VAE-3, affine networks, PCA-ring x {criterion.SCALE:g}, N = {args.n_train or criterion.DEFAULT_N}, "
          f"Gauss-Hermite {criterion.GH_NODES}x{criterion.GH_NODES}, fresh rqmc K = 512")
    print(f"{'enc':8s} {'dec':12s} {'|grad|':>8s} {'design gap':>11s} {'bound':>8s} {'fresh gap':>11s} {'SE':>8s} "
          f"{'r_dec':>10s} {'r_prior':>22s} {'seconds':>7s}")
    n_train = args.n_train or criterion.DEFAULT_N
    for enc, dec in TIGHT_CASES:
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = RunDir(Path(tmp) / "run")
            run_dir.create({"enc_link": enc, "dec_link": dec})
            case, model = criterion.stationary_gap(dec, run_dir, enc_link=enc, n_train=n_train,
                                                   newton_steps=args.newton_steps)
        x = load_data("ring", n_train=n_train, n_test=0).x_train.double() * criterion.SCALE
        fr = evaluate_fresh(model.double(), x, 512, seed=7)
        prior = ", ".join(f"{r:+.2e}" for r in fr["residual_prior"])
        print(f"{enc:8s} {dec:12s} {case.grad_norm:8.1e} {case.gap:+11.3e} {case.bound:8.1e} {fr['gap']:+11.3e} "
              f"{fr['gap_se']:8.1e} {fr['residual_decoder']:+10.3e} [{prior}] {case.seconds:7.0f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("default", "tight", "all"), default="all")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-links"))
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--eval-samples", type=int, default=None)
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

"""Link study: exp vs softplus variance links, tightly converged (fast protocol), residuals with SEs.

DESIGN.md "criterion": a network variance output f(a) is closed under the variance scalings iff f is
exp-like (exp, square, ...); softplus is not. The gap identity F - S = residual_decoder + 1/2 sum_h r_h
then says: with softplus heads the residuals need not vanish at a stationary point. This script trains
  vae3 (ring): decoder link exp vs softplus (encoder exp);
  vae3 (ring): encoder link exp vs softplus (decoder exp);
with the fast protocol and prints the fresh-sample residuals (decoder, prior) and the gap with SEs,
and the in-design gap on the L-BFGS design (which is what the optimiser actually made stationary).

    python benchmarks/link_study.py [--out DIR] [--n-train 10000] [--steps 8]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics.verify import run_verification  # noqa: E402

CASES = [("vae3", "ring", "exp", "exp"), ("vae3", "ring", "exp", "softplus"), ("vae3", "ring", "softplus", "exp")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-links"))
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--eval-samples", type=int, default=None)
    args = parser.parse_args(argv)
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

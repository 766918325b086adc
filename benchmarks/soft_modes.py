"""Soft modes of trained runs: the conditioning of the variance-scaling directions (`numerics.soft_modes`).

For each run directory (written by `python -m numerics.verify`), on a fresh randomised-QMC design
with --design-size points per data point, prints per orbit (prior h, decoder): the residual, the
loss's slope along the orbit next to the slope the gap identity predicts, the curvature along it,
the Hessian's largest eigenvalue, kappa and sqrt(kappa) (the order of the number of Krylov /
quasi-Newton iterations per e-fold of that residual on a quadratic with this conditioning).

    python benchmarks/soft_modes.py RUN_DIR [RUN_DIR ...] [--design-size 8] [--power-iters 20] [--json]
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics import limits  # noqa: E402
from numerics.cli import OneLineParser, one_line  # noqa: E402
from numerics import estimators  # noqa: E402
from numerics.rundir import load_run  # noqa: E402
from numerics.soft_modes import soft_modes  # noqa: E402
from numerics.verify import chunk_for  # noqa: E402


BOUNDS = {"--design-size": limits.BOUNDS["--samples"], "--power-iters": limits.Bound(1, 10_000)}


def measure(run_dir: str, design_size: int, power_iters: int, seed: int) -> dict:
    run = load_run(run_dir)
    if run.model is None:
        raise ValueError(f"{run_dir} has no checkpoint yet")
    model, x = run.model.double(), run.data[0].double()
    limits.check_memory(limits.Workload(
        model=model.kind, data_dim=model.D, latent_dim=model.H, hidden=tuple(run.config["hidden"]), n_train=x.shape[0],
        designs=(limits.DesignSize(design_size, per_point=True, option="--design-size"),),
        chunk_rows=chunk_for(design_size, estimators.row_width(model)) * design_size))
    design = None
    if model.kind != "linear":
        design = estimators.rqmc_design(design_size, x.shape[0], model.H, replicates=1,
                                        generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    chunk = chunk_for(design_size, estimators.row_width(model))
    modes = soft_modes(model, x, design, chunk_size=chunk, power_iters=power_iters, seed=seed)
    return {"run": run_dir, "model": model.kind, "seconds": time.perf_counter() - t0,
            "modes": [m.to_dict() for m in modes]}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories written by numerics.verify")
    parser.add_argument("--design-size", type=limits.argparse_type("--design-size", BOUNDS), default=8,
                        help="rqmc points per data point (default 8)")
    parser.add_argument("--power-iters", type=limits.argparse_type("--power-iters", BOUNDS), default=20,
                        help="power iterations for lambda_max (default 20)")
    parser.add_argument("--seed", type=limits.argparse_type("--seed"), default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for run_dir in args.runs:
        try:
            results.append(measure(run_dir, args.design_size, args.power_iters, args.seed))
        except (FileNotFoundError, ValueError) as err:  # numerics.cli.UsageError is a ValueError
            print(f"{parser.prog}: error: {one_line(err)}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(f"{r['run']} ({r['model']}, {r['seconds']:.0f} s)")
        print(f"  {'orbit':8s} {'residual':>10s} {'slope':>11s} {'predicted':>11s} {'curvature':>10s} "
              f"{'lambda_max':>10s} {'kappa':>9s} {'sqrt(kappa)':>11s}")
        for m in r["modes"]:
            print(f"  {m['name']:8s} {m['residual']:+10.3e} {m['slope']:+11.4e} {m['predicted_slope']:+11.4e} "
                  f"{m['curvature']:10.3e} {m['lambda_max']:10.3e} {m['kappa']:9.2e} {math.sqrt(m['kappa']):11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

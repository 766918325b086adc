"""How much less the three-entropy value S scatters over mini-batches than the sampled ELBO F.

For each run directory (a model trained by `python -m numerics.verify`), the training data are cut
into consecutive mini-batches of --batch points; on every batch the per-point F (Eq. 9: --samples
reparametrised MC samples of log p(x|z) per point, analytic KL, the estimator of Listing 1) and S
(the closed form its decoder calls for; Eq. 39's E_q log sigma_d^2(z) on the same samples) are
computed with `numerics.estimators.evaluate`. It prints, per run and batch size, the standard
deviation over batches of S, of F with one sample per point (what a training step sees) and of F
with --samples samples, and the ratios SD(F) / SD(S). S of the linear VAE (Eq. 33) does not depend
on the data: its spread over batches is 0 (ratio infinite).

    python benchmarks/bound_spread.py RUN_DIR [RUN_DIR ...] [--batch 10,100] [--samples 100] [--seed 0] [--json]
"""
from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics import estimators  # noqa: E402
from numerics.cli import OneLineParser, UsageError, run_main  # noqa: E402
from numerics.rundir import load_run  # noqa: E402


def per_batch(model, x, batch: int, samples: int, gen: torch.Generator) -> dict[str, list[float]]:
    """F (1 sample and `samples` samples per point) and S on each consecutive mini-batch of x."""
    out: dict[str, list[float]] = {"S": [], "F_1": [], f"F_{samples}": []}
    with torch.no_grad():
        for a in range(0, x.shape[0] - batch + 1, batch):
            xb = x[a:a + batch]
            many = estimators.evaluate(model, xb, estimators.mc_design(samples, batch, model.H, generator=gen))
            one = estimators.elbo_objective(model, xb, estimators.mc_design(1, batch, model.H, generator=gen))
            out["S"].append(float(many.entropy_sum))
            out[f"F_{samples}"].append(float(many.elbo))
            out["F_1"].append(float(one))
    return out


def spread(run_dir: str, batches: list[int], samples: int, seed: int) -> dict:
    run = load_run(run_dir)
    if run.model is None:
        raise UsageError(f"{run_dir} has no checkpoint yet")
    model, x = run.model.double(), run.data[0].double()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for batch in batches:
        if batch > x.shape[0]:
            raise UsageError(f"--batch {batch} exceeds the {x.shape[0]} training points of {run_dir}")
        values = per_batch(model, x, batch, samples, gen)
        sd = {key: statistics.pstdev(v) for key, v in values.items()}
        ratio = {key: (sd[key] / sd["S"] if sd["S"] > 0 else math.inf) for key in values if key != "S"}
        rows.append({"batch": batch, "batches": len(values["S"]), "sd": sd, "ratio": ratio,
                     "mean": {key: statistics.fmean(v) for key, v in values.items()}})
    return {"run": run_dir, "model": run.config["model"], "data": run.config["data"], "samples": samples, "rows": rows}


def _ints(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"--batch needs comma-separated integers, got {text!r}") from None
    if not values or min(values) < 2:
        raise UsageError("--batch sizes must be >= 2")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="benchmarks/bound_spread.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories written by python -m numerics.verify")
    parser.add_argument("--batch", default="10,100", help="mini-batch sizes (default 10,100)")
    parser.add_argument("--samples", type=int, default=100, help="MC samples per point of the sampled ELBO")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    def body() -> int:
        if args.samples < 1:
            raise UsageError("--samples must be >= 1")
        torch.set_num_threads(1)
        results = [spread(run, _ints(args.batch), args.samples, args.seed) for run in args.runs]
        if args.json:
            print(json.dumps(results, indent=2, default=str))
            return 0
        for r in results:
            for row in r["rows"]:
                sd, ratio, k = row["sd"], row["ratio"], f"F_{r['samples']}"
                print(f"{r['model']} ({r['data']}), batch {row['batch']} ({row['batches']} batches): SD per point "
                      f"S {sd['S']:.3g}, F(1 sample) {sd['F_1']:.3g}, F({r['samples']} samples) {sd[k]:.3g} nats; "
                      f"ratio SD(F)/SD(S) {ratio['F_1']:.3g} / {ratio[k]:.3g}")
        return 0

    return run_main(parser.prog, body)


if __name__ == "__main__":
    sys.exit(main())

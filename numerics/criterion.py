"""The parametrisation criterion on trained networks: the gap at a stationary point, per variance link.

DESIGN.md, "criterion": the propositions need the model family to be closed under the variance
scalings. A network variance head sigma^2 = f(a), a an affine last layer, is closed iff f lies in
span{f'(a), a f'(a)}: exp and square are, softplus and the authors' softplus-std (sigma = softplus(a),
their Listing 1 and verification code) are not (`numerics.orbits.missing_orbits`). By the gap identity
F - S = residual_decoder + 1/2 sum_h r_h, and each residual is minus F's slope along its orbit, so:

* covered link: at a stationary point every slope vanishes, hence F = S; on a fixed design,
  |F - S| <= |grad F| (|v_decoder| + sum_h |v_h|) exactly (v: the orbits' tangents, Cauchy-Schwarz);
* uncovered link: the decoder orbit is not in the family, so its residual need not vanish, and
  F - S = residual_decoder + (a part bounded as above).

`stationary_gap` makes this measurable to round-off: VAE-3 with affine networks (no hidden layer,
104 parameters for H = 2, D = 10) on PCA-ring data scaled by SCALE (decoder variances ~1e-2..1,
where softplus is far from exp-like), trained by Adam, L-BFGS and damped Newton on one fixed
Gauss-Hermite design until Newton stalls (|grad F| ~ 1e-14). On that design the identity is exact,
so the design's gap at the end IS the gap of a stationary point of that parametrisation.

Check (claim `criterion`): PASS iff every case reached a stationary point (|grad F| <= GRAD_MAX),
every covered link's |F - S| is within its bound plus round-off, and every uncovered link's |F - S|
exceeds DETECT times its bound plus round-off (so a nonzero stationary gap is really there).

CLI: ``python -m numerics.criterion --out DIR [--links exp,softplus-std] [--n-train 2000]`` writes
DIR/summary.json and one training folder per link. Exit status: 0 PASS, 1 FAIL, 2 usage error,
3 training diverged, 5 NOT-CONVERGED (Newton did not reach GRAD_MAX).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.func import jvp

from numerics import estimators, limits, orbits
from numerics.cli import OneLineParser, UsageError, run_main
from numerics.data import load_data
from numerics.links import LINKS, closed_as_head
from numerics.models import GaussianVAE, build_model
from numerics.protocols import Phase, Protocol
from numerics.rundir import RunDir, json_safe
from numerics.training import DivergenceError, Trainer

SCALE = 10.0
"""PCA-ring data are multiplied by this, so that the decoder variances sit where softplus is not exp-like."""
GH_NODES = 4
"""Gauss-Hermite nodes per latent dimension of the fixed design (16 nodes for H = 2)."""
GRAD_MAX = 1e-9
"""A case counts as stationary when |grad F| on the design is at most this (Newton reaches ~1e-14)."""
ROUNDOFF_REL = 1e-10
"""Float64 round-off allowance relative to max(1, |F|) (as `numerics.verdict`)."""
DETECT = 10.0
"""An uncovered link's stationary gap must exceed DETECT x (its bound + round-off)."""
DEFAULT_LINKS = ("exp", "softplus-std")
DEFAULT_N = 2000
MIN_N, MAX_N = 16, 100_000
"""The range of --n-train (the cost grows with the points: the default 2,000 take about 75 s for both links)."""
EXIT_PASS, EXIT_FAIL, EXIT_DIVERGED, EXIT_NOT_CONVERGED = 0, 1, 3, 5


def protocol(newton_steps: int = 40) -> Protocol:
    """Adam warm start, L-BFGS, then damped Newton until it stalls, all but Adam on one Gauss-Hermite design."""
    return Protocol("stationary", "float64", (
        Phase("adam", steps=100, lr=3e-3, batch_size=1000, log_every=100, checkpoint_every=100),
        Phase("lbfgs", steps=20, design="gauss-hermite", design_size=GH_NODES, history=100, inner_iters=50),
        Phase("newton", steps=newton_steps, design="gauss-hermite", design_size=GH_NODES)))


@dataclass
class StationaryGap:
    """One link's stationary point: the design's F, S, gap and residuals, |grad F| and the bound."""

    dec_link: str
    enc_link: str
    covered: bool
    elbo: float
    entropy_sum: float
    gap: float
    residual_decoder: float
    residual_prior: list[float]
    grad_norm: float
    tangent_norms: dict[str, float]
    bound: float
    tolerance: float
    seconds: float

    @property
    def stationary(self) -> bool:
        return math.isfinite(self.grad_norm) and self.grad_norm <= GRAD_MAX

    def check(self) -> tuple[str, str]:
        """(PASS / FAIL / NOT-CONVERGED, one-line reason) for this case."""
        if not self.stationary:
            return "NOT-CONVERGED", f"|grad F| = {self.grad_norm:.1e} > {GRAD_MAX:g}: not a stationary point"
        if self.covered:
            ok = abs(self.gap) <= self.tolerance
            return ("PASS" if ok else "FAIL"), (f"covered link {self.dec_link}: |F - S| = {abs(self.gap):.1e} "
                                                f"{'<=' if ok else '>'} {self.tolerance:.1e} (bound + round-off)")
        ok = abs(self.gap) >= DETECT * self.tolerance
        return ("PASS" if ok else "FAIL"), (f"uncovered link {self.dec_link}: |F - S| = {abs(self.gap):.1e} "
                                            f"{'>=' if ok else '<'} {DETECT:g} x {self.tolerance:.1e}")

    def to_dict(self) -> dict:
        status, reason = self.check()
        return {**asdict(self), "stationary": self.stationary, "status": status, "reason": reason}


def _tangent_norm(model: GaussianVAE, params: dict, orbit: str) -> float:
    """|d theta / dt| at t = 0 along `orbit` (forward mode through the orbit map)."""
    t0 = torch.zeros((), dtype=torch.float64)
    _, tangent = jvp(lambda t: torch.cat([v.reshape(-1) for v in orbits.move(model, params, orbit, t).values()]),
                     (t0,), (torch.ones_like(t0),))
    return float(tangent.norm())


def measure(model: GaussianVAE, x: torch.Tensor, design: estimators.Design, seconds: float) -> StationaryGap:
    """F, S, gap, residuals, |grad F| and the exact bound on the gap at `model`'s parameters, on `design`."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    elbo = estimators.elbo_objective(model, x, design)
    grad = torch.autograd.grad(elbo, [p for p in model.parameters()])
    grad_norm = float(torch.cat([g.reshape(-1) for g in grad]).norm())
    with torch.no_grad():
        ev = estimators.evaluate(model, x, design).to_dict()
    missing = orbits.missing_orbits(model)
    norms = {name: _tangent_norm(model, params, name) for name in orbits.orbit_names(model) if name not in missing}
    bound = grad_norm * sum(norms.values())
    return StationaryGap(dec_link=model.dec_link_name, enc_link=model.enc_link_name,
                         covered=orbits.DECODER not in missing and not missing, elbo=ev["elbo"],
                         entropy_sum=ev["entropy_sum"], gap=ev["gap"], residual_decoder=ev["residual_decoder"],
                         residual_prior=ev["residual_prior"], grad_norm=grad_norm, tangent_norms=norms, bound=bound,
                         tolerance=bound + ROUNDOFF_REL * max(1.0, abs(ev["elbo"])), seconds=seconds)


def stationary_gap(dec_link: str, run_dir: RunDir, *, enc_link: str = "exp", n_train: int = DEFAULT_N,
                   seed: int = 0, newton_steps: int = 40) -> tuple[StationaryGap, GaussianVAE]:
    """Train the affine VAE-3 with decoder link `dec_link` to a stationary point (module docstring) in
    `run_dir`; its measurement and the trained model. Raises DivergenceError if training diverges."""
    x = load_data("ring", n_train=n_train, n_test=0, seed=seed).x_train.to(torch.float64) * SCALE
    model = build_model("vae3", x.shape[1], 2, hidden=(), enc_link=enc_link, dec_link=dec_link,
                        generator=torch.Generator().manual_seed(seed))
    started = time.perf_counter()
    Trainer(model, x, protocol(newton_steps), run_dir, seed=seed, progress=False, label=f"criterion/{dec_link}").run()
    design = estimators.gauss_hermite_design(GH_NODES, model.H)
    return measure(model, x, design, time.perf_counter() - started), model


def summarise(cases: list[StationaryGap], seconds: float) -> dict:
    """summary.json: the claim, status (FAIL > NOT-CONVERGED > PASS) with a reason, and every case."""
    checks = [case.check() for case in cases]
    statuses = [status for status, _ in checks]
    status = "FAIL" if "FAIL" in statuses else "NOT-CONVERGED" if "NOT-CONVERGED" in statuses else "PASS"
    reason = "; ".join(reason for _, reason in checks)
    return {"claim": "criterion", "model": "vae3", "role": "criterion", "protocol": "stationary",
            "status": status, "reason": reason,
            "data": f"ring x {SCALE:g}", "design": {"kind": "gauss-hermite", "nodes_per_dim": GH_NODES},
            "cases": [case.to_dict() for case in cases], "seconds": seconds,
            "checks": [{"name": f"stationary-gap-{case.dec_link}", "claim": "criterion", "status": s,
                        "value": abs(case.gap), "tolerance": case.tolerance, "detail": r}
                       for case, (s, r) in zip(cases, checks)]}


def _links(text: str) -> tuple[str, ...]:
    links = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [link for link in links if link not in LINKS]
    if not links or bad:
        raise argparse.ArgumentTypeError(f"unknown link(s) {', '.join(bad) or text!r}; valid: {', '.join(LINKS)}")
    return links


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m numerics.criterion", description=__doc__.split("\n\n")[0],
                      epilog="Exit status: 0 PASS, 1 FAIL, 2 usage error, 3 training diverged, 5 NOT-CONVERGED.")
    p.add_argument("--out", type=Path, required=True, help="folder for summary.json and one training folder per link")
    p.add_argument("--links", type=_links, default=DEFAULT_LINKS,
                   help=f"decoder variance links to compare (default {','.join(DEFAULT_LINKS)})")
    p.add_argument("--n-train", type=limits.argparse_type("--n-train", {"--n-train": limits.Bound(MIN_N, MAX_N)}),
                   default=DEFAULT_N,
                   help=f"PCA-ring points, {MIN_N} to {MAX_N} (default {DEFAULT_N})")
    p.add_argument("--seed", type=limits.argparse_type("--seed"), default=0)
    p.add_argument("--json", action="store_true", help="print summary.json")
    args = p.parse_args(argv)
    return run_main(p.prog, lambda: _run(args), errors={DivergenceError: EXIT_DIVERGED})


def _run(args: argparse.Namespace) -> int:
    """The CLI's work after parsing: one training per link into --out, the summary, the exit status."""
    root = RunDir(args.out)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    if root.exists() or (args.out.exists() and any(args.out.iterdir())):
        raise UsageError(f"--out {args.out} is not empty; choose another --out")
    torch.set_num_threads(1)
    started = time.perf_counter()
    config = {"links": list(args.links), "n_train": args.n_train, "seed": args.seed, "scale": SCALE,
              "gh_nodes": GH_NODES}
    root.create(config)
    cases = []
    for link in args.links:
        case_dir = root.child(f"dec-{link}")
        case_dir.create({**config, "dec_link": link, "closed_as_head": closed_as_head(link)})
        cases.append(stationary_gap(link, case_dir, n_train=args.n_train, seed=args.seed)[0])
    summary = summarise(cases, time.perf_counter() - started)
    root.write_summary(json_safe(summary))
    if args.json:
        import json
        print(json.dumps(json_safe(summary), indent=2))
    else:
        for case in summary["cases"]:
            print(f"dec link {case['dec_link']:<13} covered={case['covered']!s:<5} |grad F| {case['grad_norm']:.1e}  "
                  f"F - S {case['gap']:+.3e}  residual_decoder {case['residual_decoder']:+.3e}  "
                  f"bound {case['bound']:.1e}  {case['status']}  ({case['seconds']:.0f} s)")
        print(f"{summary['status']}: {summary['reason']}")
    return {"PASS": EXIT_PASS, "FAIL": EXIT_FAIL, "NOT-CONVERGED": EXIT_NOT_CONVERGED}[summary["status"]]


if __name__ == "__main__":
    sys.exit(main())

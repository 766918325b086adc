"""The coverage probe's least-squares residual per variance head (`numerics.coverage`, PROBE_TOL).

For plain nn.Module VAEs with two 50- or 256-unit ReLU layers per network and a z-dependent decoder
variance link(a + shift) (exp, square, softplus at shift 0, softplus driven 8 units into its linear
(+8) or exponential (-8) regime), on 1,024 standard-normal points: the decoder orbit's relative
residual and the verdict. Exact heads sit at round-off; softplus is not closed under scaling, and its
residual shrinks where it behaves like a linear or exp head over the probed range.

    python benchmarks/probe_residuals.py [--json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics.cli import OneLineParser  # noqa: E402
from numerics.coverage import PROBE_TOL, coverage  # noqa: E402

LINKS = {"exp": (torch.exp, 0.0), "square": (lambda a: a * a, 0.0), "softplus": (F.softplus, 0.0),
         "softplus+8": (F.softplus, 8.0), "softplus-8": (F.softplus, -8.0)}


class ProbeVAE(nn.Module):
    def __init__(self, D: int, H: int, width: int, link: str) -> None:
        super().__init__()

        def mlp(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(a, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, b))

        self.mean, self.var = mlp(D, H), mlp(D, H)
        self.dec_mean, self.dec_var = mlp(H, D), mlp(H, D)
        self.link, self.shift = LINKS[link]

    def encode(self, x):
        return self.mean(x), torch.exp(self.var(x))

    def decode(self, z):
        return self.dec_mean(z), self.link(self.dec_var(z) + self.shift)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="benchmarks/probe_residuals.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for D, width in ((10, 50), (784, 50), (10, 256)):
        for link in LINKS:
            torch.manual_seed(0)
            decoder = coverage(ProbeVAE(D, 2, width, link), torch.randn(1024, D)).orbits[0]
            rows.append({"D": D, "width": width, "link": link, "residual": decoder.residual, "exists": decoder.exists})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"decoder orbit, relative residual of the tangent fit (covered when <= {PROBE_TOL:g}):")
    for r in rows:
        print(f"  D = {r['D']:>3}, width {r['width']:>3}, {r['link']:<11} {r['residual']:.1e}  exists: {r['exists']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

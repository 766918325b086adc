"""Streaming model selection by the three-entropy value: the authors' stream experiment, measured.

Three stationary streams are chained (100,000 points each by default). Each draws
x = U (s * g) + e with g ~ N(0, 1_D), a fixed random orthogonal U [D, D], scales s = linspace(1, 5, D)
with s_h = 0 for h >= H_true, and noise e ~ N(0, 0.1^2 1_D), so the data are exactly p-PCA data with
H_true latent dimensions (Eqs. 77-78 with W = U diag(s)); H_true is 6, then 2, then 4. Linear VAEs
(Eqs. 29-32) with H in {2, 4, 6} are trained online, each on every mini-batch once (batch 10, Adam,
learning rate 2e-3, 100 reparametrised samples per point for the decoder term, analytic KL: the
estimator of Listing 1, which is `numerics.estimators.elbo_objective` on an MC design).

For every batch b and model H the batch's bound is computed twice, on the batch the model is about to
learn from:
* the sampled ELBO: sum over the batch of the objective's Monte Carlo estimate (Eq. 9);
* the entropy sum: the batch size times Eq. 33, -D/2 log(2 pi e sigma^2) + 1/2 sum_h log tau_h^2,
  which by Cor. 1 equals the bound at stationary points and needs no data and no samples.
Each gives BIC_H = (H D + 1) ln(batch) - 2 bound_H, and the batch selects the H of smallest BIC.
The summary reports, per segment, how often each bound selects the true H, and the spread (standard
deviation over batches) of each bound for the true-H model in the segment's second half, where the
models are near their stationary points.

CLI: ``python -m numerics.stream --out DIR`` writes DIR/stream.json (summary), DIR/stream.npz
(per-batch bounds and BICs) and DIR/stream.png (the BIC curves, as the authors' figure), and nothing
outside DIR. Exit status: 0 done, 2 usage error (one line on stderr: a value outside its range, or sizes
that would not fit this machine's memory, `check_memory`), 3 training diverged.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from numerics import estimators, limits
from numerics.cli import EXIT_DIVERGED, OneLineParser, UsageError, run_main
from numerics.entropies import entropy_sum_linear
from numerics.models import LinearVAE
from numerics.rundir import json_safe, write_json_atomic

EXIT_DONE = 0


@dataclass(frozen=True)
class StreamSpec:
    """The experiment's settings; the defaults are the authors' (see the module docstring)."""

    true_dims: tuple[int, ...] = (6, 2, 4)
    points_per_segment: int = 100_000
    data_dim: int = 10
    noise_sd: float = 0.1
    model_dims: tuple[int, ...] = (2, 4, 6)
    batch_size: int = 10
    learning_rate: float = 2e-3
    samples: int = 100
    seed: int = 0

    def validate(self) -> None:
        """ValueError (one line) for settings the experiment cannot run with."""
        if self.batch_size < 2:
            raise ValueError("--batch-size must be >= 2 (BIC needs ln(batch) > 0)")
        if self.points_per_segment < self.batch_size:
            raise ValueError("--points-per-segment must be at least one batch")
        if self.samples < 1:
            raise ValueError("--samples must be >= 1")
        if not 0 < max(self.true_dims) <= self.data_dim or not 0 < max(self.model_dims) <= self.data_dim:
            raise ValueError(f"latent dimensions must lie in 1..{self.data_dim}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError("--lr must be a positive number")


MEMORY_OPTIONS = {"--points-per-segment": "points_per_segment", "--samples": "samples"}
"""The options whose size sets the experiment's memory, and the StreamSpec fields they set."""


def memory_estimate(spec: StreamSpec) -> limits.MemoryEstimate:
    """Bytes the experiment holds at its peak, by part (numerics.limits' conventions: 8 bytes a number,
    float64 throughout, an upper-side order of magnitude): the runtime; the chained data (drawn in
    float64 with the noise and the concatenation beside them, then a float32 copy, and the labels);
    the per-batch records (sampled ELBO, entropy sum and their two BICs, [M, batches] each, plus the
    selections); one batch's reparametrised samples and the decoder activations kept for backward."""
    points = len(spec.true_dims) * spec.points_per_segment
    batches = points // max(spec.batch_size, 1)
    H = max(spec.model_dims)
    return limits.MemoryEstimate({
        "runtime": limits.RUNTIME_BYTES,
        "data": limits.BYTES * points * (spec.data_dim * limits.DATA_COPIES + 1),
        "records": limits.BYTES * batches * (4 * len(spec.model_dims) + 2),
        "samples": limits.BYTES * spec.samples * spec.batch_size * (H + spec.data_dim) * limits.AUTOGRAD_FACTOR,
    })


def check_memory(spec: StreamSpec, budget: int | None = None) -> limits.MemoryEstimate:
    """`memory_estimate(spec)` if it fits this machine (numerics.limits.check_option_memory), else a
    BoundsError naming --points-per-segment or --samples and the largest value that fits."""
    values = {option: getattr(spec, name) for option, name in MEMORY_OPTIONS.items()}
    lows = {"--points-per-segment": spec.batch_size, "--samples": 1}
    return limits.check_option_memory(
        lambda v: memory_estimate(replace(spec, **{MEMORY_OPTIONS[o]: n for o, n in v.items()})),
        values, lows, budget=budget)


def stream_data(spec: StreamSpec) -> tuple[Tensor, Tensor]:
    """The chained streams: x [S * n, D] (float64) and the true H of every point [S * n]."""
    gen = torch.Generator().manual_seed(spec.seed)
    D, n = spec.data_dim, spec.points_per_segment
    U, _, _ = torch.linalg.svd(torch.randn(D, D, generator=gen, dtype=torch.float64))
    parts, labels = [], []
    for H in spec.true_dims:
        scale = torch.linspace(1.0, 5.0, D, dtype=torch.float64)
        scale[H:] = 0.0
        g = torch.randn(n, D, generator=gen, dtype=torch.float64) * scale
        noise = spec.noise_sd * torch.randn(n, D, generator=gen, dtype=torch.float64)
        parts.append(g @ U.T + noise)
        labels.append(torch.full((n,), H, dtype=torch.int64))
    return torch.cat(parts), torch.cat(labels)


def sampled_elbo(model: LinearVAE, x: Tensor, eps: Tensor) -> Tensor:
    """Sum over the batch of the ELBO's estimate (Eq. 9): E_q log p(x|z) by the reparametrised base points
    eps [K, B, H] (z = nu + tau eps, weights 1/K), KL(q || p) analytic: `estimators.elbo_objective` on
    that MC design, times the batch size."""
    K = eps.shape[0]
    design = estimators.Design(eps=eps, weights=torch.full((K,), 1.0 / K, dtype=eps.dtype), kind="mc")
    return x.shape[0] * estimators.elbo_objective(model, x, design)


def entropy_bound(model: LinearVAE, batch: int) -> Tensor:
    """The batch's bound by the three-entropy value: batch x Eq. 33 (no data, no samples)."""
    return batch * entropy_sum_linear(model.sigma2(), model.tau2(), model.D)


def bic(bound: np.ndarray, H: int, D: int, batch: int) -> np.ndarray:
    """BIC = (H D + 1) ln(batch) - 2 bound, for the batch's summed bound."""
    return (H * D + 1) * math.log(batch) - 2.0 * bound


@dataclass
class StreamResult:
    """Per-batch bounds of every model ([M, B] arrays; M = len(model_dims)) and what they select."""

    spec: StreamSpec
    elbo: np.ndarray
    entropy: np.ndarray
    true_dim: np.ndarray
    seconds: float
    summary: dict = field(default_factory=dict)

    def bics(self) -> tuple[np.ndarray, np.ndarray]:
        """BIC from the sampled ELBO and from the entropy sum, [M, B] each."""
        s = self.spec
        by_elbo = np.stack([bic(self.elbo[i], H, s.data_dim, s.batch_size) for i, H in enumerate(s.model_dims)])
        by_entropy = np.stack([bic(self.entropy[i], H, s.data_dim, s.batch_size)
                               for i, H in enumerate(s.model_dims)])
        return by_elbo, by_entropy


class StreamDivergence(RuntimeError):
    """A model's bound became non-finite."""


def summarise(result: StreamResult) -> dict:
    """Per segment: fraction of batches selecting the true H by each bound (all batches, and after the
    first 10 %), and the SD over the segment's second half of each bound for the true-H model."""
    s = result.spec
    dims = np.asarray(s.model_dims)
    by_elbo, by_entropy = result.bics()
    pick_elbo, pick_entropy = dims[by_elbo.argmin(0)], dims[by_entropy.argmin(0)]
    per_segment = s.points_per_segment // s.batch_size
    segments = []
    for k, H in enumerate(s.true_dims):
        sl = slice(k * per_segment, (k + 1) * per_segment)
        settled = slice(k * per_segment + per_segment // 10, (k + 1) * per_segment)
        half = slice(k * per_segment + per_segment // 2, (k + 1) * per_segment)
        row = {"true_dim": H, "batches": per_segment,
               "selects_true_elbo": float(np.mean(pick_elbo[sl] == H)),
               "selects_true_entropy": float(np.mean(pick_entropy[sl] == H)),
               "selects_true_elbo_settled": float(np.mean(pick_elbo[settled] == H)),
               "selects_true_entropy_settled": float(np.mean(pick_entropy[settled] == H))}
        if H in s.model_dims:
            i = s.model_dims.index(H)
            sd_elbo, sd_entropy = float(np.std(result.elbo[i, half])), float(np.std(result.entropy[i, half]))
            row.update(sd_elbo=sd_elbo, sd_entropy=sd_entropy,
                       sd_ratio=sd_elbo / sd_entropy if sd_entropy > 0 else None)
        segments.append(row)
    return {"segments": segments, "seconds": result.seconds, "spec": asdict(result.spec)}


def run_stream(spec: StreamSpec, *, progress: bool = True) -> StreamResult:
    """Train the linear VAEs online on the chained streams (module docstring); float32, one CPU thread
    worth of work per batch. Raises StreamDivergence when a bound becomes non-finite."""
    spec.validate()
    x_all, labels = stream_data(spec)
    x_all = x_all.to(torch.float32)
    gen = torch.Generator().manual_seed(spec.seed + 1)
    models = [LinearVAE(spec.data_dim, H, dtype=torch.float32, generator=gen) for H in spec.model_dims]
    optims = [torch.optim.Adam(m.parameters(), lr=spec.learning_rate) for m in models]
    batches = x_all.shape[0] // spec.batch_size
    elbo = np.empty((len(models), batches))
    entropy = np.empty((len(models), batches))
    noise = torch.Generator().manual_seed(spec.seed + 2)
    t0 = time.perf_counter()
    for b in tqdm(range(batches), disable=not progress or not sys.stderr.isatty(), desc="stream", unit="batch"):
        xb = x_all[b * spec.batch_size:(b + 1) * spec.batch_size]
        for i, (model, opt) in enumerate(zip(models, optims)):
            eps = torch.randn(spec.samples, spec.batch_size, model.H, generator=noise)
            opt.zero_grad()
            bound = sampled_elbo(model, xb, eps)
            with torch.no_grad():
                entropy[i, b] = float(entropy_bound(model, spec.batch_size))
            elbo[i, b] = float(bound.detach())
            if not (math.isfinite(elbo[i, b]) and math.isfinite(entropy[i, b])):
                raise StreamDivergence(f"model H={model.H} diverged at batch {b}: non-finite bound")
            (-bound).backward()
            opt.step()
    result = StreamResult(spec, elbo, entropy, labels[::spec.batch_size][:batches].numpy(),
                          time.perf_counter() - t0)
    result.summary = summarise(result)
    return result


def plot(result: StreamResult, path: Path) -> None:
    """The BIC curves of every model by both bounds, segments marked (the authors' figure, both bounds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_elbo, by_entropy = result.bics()
    s = result.spec
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    per_segment = s.points_per_segment // s.batch_size
    for ax, values, title in ((axes[0], by_elbo, "BIC from the sampled ELBO"),
                              (axes[1], by_entropy, "BIC from the entropy sum (Eq. 33)")):
        for i, H in enumerate(s.model_dims):
            ax.plot(values[i], lw=0.4, label=f"H = {H}")
        for k, H in enumerate(s.true_dims):
            ax.axvline(k * per_segment, color="grey", ls="-.", lw=0.8)
            ax.text(k * per_segment + per_segment * 0.05, 0.95, f"true H = {H}", transform=ax.get_xaxis_transform(),
                    fontsize=8, va="top")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("batch")
    axes[0].set_ylabel("BIC (batch of %d)" % s.batch_size)
    axes[0].legend(fontsize=8, loc="lower left")
    lo, hi = np.percentile(np.concatenate([by_elbo.ravel(), by_entropy.ravel()]), [1, 99])
    axes[0].set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def write(result: StreamResult, out: Path) -> None:
    """stream.json, stream.npz and stream.png into `out` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    by_elbo, by_entropy = result.bics()
    np.savez(out / "stream.npz", elbo=result.elbo, entropy=result.entropy, bic_elbo=by_elbo,
             bic_entropy=by_entropy, true_dim=result.true_dim, model_dims=np.asarray(result.spec.model_dims))
    write_json_atomic(out / "stream.json", json_safe(result.summary))
    plot(result, out / "stream.png")


def format_summary(summary: dict) -> str:
    """One line per segment: selection rates by each bound and the SDs of the bounds."""
    lines = [f"stream of {len(summary['segments'])} segments in {summary['seconds']:.1f} s"]
    for row in summary["segments"]:
        line = (f"  true H = {row['true_dim']}: selects the true H in {100 * row['selects_true_entropy']:.1f} % "
                f"of batches by the entropy sum, {100 * row['selects_true_elbo']:.1f} % by the sampled ELBO "
                f"(after the first 10 %: {100 * row['selects_true_entropy_settled']:.1f} % / "
                f"{100 * row['selects_true_elbo_settled']:.1f} %)")
        if "sd_entropy" in row:
            line += (f"; SD of the batch bound {row['sd_entropy']:.3g} vs {row['sd_elbo']:.3g} nats "
                     f"(ratio {row['sd_ratio']:.1f})")
        lines.append(line)
    return "\n".join(lines)


def _dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated integers, e.g. 6,2,4") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError("dimensions must be positive integers")
    return dims


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m numerics.stream", description=__doc__.split("\n\n")[0],
                      epilog="Writes stream.json, stream.npz and stream.png into --out and nothing elsewhere. "
                             "Exit status: 0 done, 2 usage error, 3 training diverged.")
    defaults = StreamSpec()
    p.add_argument("--out", type=Path, required=True, help="folder for stream.json, stream.npz, stream.png")
    p.add_argument("--points-per-segment", type=limits.argparse_type("--points-per-segment"),
                   default=defaults.points_per_segment)
    p.add_argument("--true-dims", type=_dims, default=defaults.true_dims, help="true H per segment (6,2,4)")
    p.add_argument("--model-dims", type=_dims, default=defaults.model_dims, help="H of the models (2,4,6)")
    p.add_argument("--batch-size", type=limits.argparse_type("--batch-size"), default=defaults.batch_size)
    p.add_argument("--lr", type=limits.argparse_type("--lr"), default=defaults.learning_rate)
    p.add_argument("--samples", type=limits.argparse_type("--samples"), default=defaults.samples)
    p.add_argument("--seed", type=limits.argparse_type("--seed"), default=defaults.seed)
    p.add_argument("--json", action="store_true", help="print stream.json instead of the text summary")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    spec = StreamSpec(true_dims=args.true_dims, points_per_segment=args.points_per_segment,
                      model_dims=args.model_dims, batch_size=args.batch_size, learning_rate=args.lr,
                      samples=args.samples, seed=args.seed)

    def body() -> int:
        try:
            spec.validate()
        except ValueError as err:
            raise UsageError(str(err)) from None
        check_memory(spec)
        if args.out.exists() and not args.out.is_dir():
            raise UsageError(f"--out {args.out} exists and is not a folder")
        torch.set_num_threads(1)
        result = run_stream(spec, progress=not args.no_progress)
        try:
            write(result, args.out)
        except OSError as err:
            raise UsageError(f"cannot write into --out {args.out}: {err.strerror or err}") from None
        if args.json:
            import json
            print(json.dumps(json_safe(result.summary), indent=2))
        else:
            print(format_summary(result.summary))
        return EXIT_DONE

    return run_main(p.prog, body, errors={StreamDivergence: EXIT_DIVERGED})


if __name__ == "__main__":
    sys.exit(main())

"""What each build profile runs: the numeric runs, grouped the way the report's figures use them.

``quick`` (default): one fast-protocol verification run per model (each with its control run) on the
built-in data (``seeds`` > 1: that many seeds per model), and the parametrisation-criterion study
(`numerics.criterion`: the stationary gap of the exp and the authors' softplus-std decoder links);
they decide the numeric verdicts. ``full``: the same plus the paper's experiments with the paper's
protocol (Appendix C.3): 10 runs for Fig. 1(a) and 1(b), 100 runs for Fig. 1(c) and for each Fig. 2
variant (batch size 100, learning rate 5e-3), and the authors' streaming model-selection experiment
(`numerics.stream`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROFILES = ("quick", "full")

#: Model name -> (claims it checks numerically, data set, panel label used in the paper's figures).
MODELS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "linear": (("cor1", "corA1"), "p-PCA", "linear VAE on p-PCA data"),
    "vae1": (("prop2",), "MNIST subset", "VAE-1 on MNIST"),
    "vae3": (("prop3",), "PCA-ring", "VAE-3 on PCA-ring data"),
    "vae2": (("prop1",), "p-PCA", "VAE-2 on p-PCA data"),
}
MODEL_ORDER = tuple(MODELS)


@dataclass(frozen=True)
class GroupSpec:
    """A set of runs of one model and one training setting, drawn together in a figure panel."""

    key: str
    title: str
    model: str
    protocol: str
    role: str  # "verify": decides numeric verdicts; "reproduce": the paper's figures, statistics only
    seeds: tuple[int, ...] = (0,)
    options: dict = field(default_factory=dict)  # training options (batch_size, lr) of a variant
    variant: str = "base"
    runner: str = "verify"  # verify: numerics.verify per seed; sweep: one batched numerics.sweep;
    # criterion: numerics.criterion (role "criterion"); stream: numerics.stream (role "study")
    expected_seconds: float = 60.0  # wall time of one run on a CPU core, to start the longest first


EXPECTED_SECONDS = {"vae1": 300.0, "vae3": 150.0, "vae2": 110.0, "linear": 5.0}
"""Measured wall time of one fast verification run (with its control) on one CPU core."""


def verification_groups(seeds: int = 1) -> list[GroupSpec]:
    """``seeds`` fast-protocol runs per model (seeds 0 .. seeds-1): the numeric verdicts of the summary table."""
    if seeds < 1:
        raise ValueError("seeds must be >= 1")
    return [GroupSpec(key=f"verify-{model}", title=f"{label} (fast protocol)", model=model, protocol="fast",
                      role="verify", seeds=tuple(range(seeds)), expected_seconds=EXPECTED_SECONDS[model])
            for model, (_, _, label) in MODELS.items()]


def criterion_group() -> GroupSpec:
    """The stationary gap of a covered (exp) and the authors' (softplus-std) decoder link (claim criterion)."""
    return GroupSpec(key="criterion", title="Criterion: stationary gap per decoder variance link (affine VAE-3)",
                     model="vae3", protocol="stationary", role="criterion", runner="criterion",
                     expected_seconds=90.0)


def stream_group() -> GroupSpec:
    """The authors' streaming model selection by BIC from the entropy sum and from the sampled ELBO."""
    return GroupSpec(key="stream", title="Streaming model selection (linear VAEs, H in {2, 4, 6})", model="linear",
                     protocol="online", role="study", runner="stream", expected_seconds=90.0)


_REPRODUCTIONS = (  # key, title, model, the paper's number of runs, training options, variant label
    ("fig1a", "Fig. 1(a): linear VAE on p-PCA", "linear", 10, {}, "base"),
    ("fig1b", "Fig. 1(b): VAE-1 on MNIST", "vae1", 10, {}, "base"),
    ("fig1c", "Fig. 1(c) / 2(a): VAE-3 on PCA-ring", "vae3", 100, {}, "base"),
    ("fig2b", "Fig. 2(b): VAE-3, batch size 100", "vae3", 100, {"batch_size": 100}, "batch 100"),
    ("fig2c", "Fig. 2(c): VAE-3, learning rate 5e-3", "vae3", 100, {"lr": 5e-3}, "lr 0.005"),
)


PAPER_EPOCH_SECONDS = {"linear": 0.08, "vae1": 0.5, "vae3": 1.7, "vae2": 1.0}
"""Measured seconds per run and epoch of the paper protocol on one CPU core (before batching)."""


def reproduction_groups(runs: int | None = None, epochs: int | None = None) -> list[GroupSpec]:
    """The paper's experiments, Appendix C.3 protocol: Fig. 1(a)-(c) and the Fig. 2 variants.

    Each runs as one batched sweep (``numerics.sweep``: one seed = own initialisation and, for
    generated data, its own data set; MNIST is one fixed set shared by the members). ``runs`` caps
    the number of runs per group and ``epochs`` sets the epochs per run (default: the paper's counts,
    and ``numerics.protocols``' paper epochs): a scaled-down reproduction, named so in each title.
    """
    if (runs is not None and runs < 1) or (epochs is not None and epochs < 1):
        raise ValueError("paper runs and epochs must be >= 1")
    groups = []
    for key, title, model, paper_runs, options, variant in _REPRODUCTIONS:
        n = paper_runs if runs is None else min(runs, paper_runs)
        scale = f", {n} runs" + ("" if epochs is None else f" of {epochs} epochs")
        options = dict(options, **({} if epochs is None else {"epochs": epochs}))
        groups.append(GroupSpec(key, title + scale, model, "paper", "reproduce", seeds=tuple(range(n)),
                                options=options, variant=variant, runner="sweep",
                                expected_seconds=n * (epochs or 300) * PAPER_EPOCH_SECONDS[model]))
    return groups


def profile_groups(profile: str, *, paper_runs: int | None = None, paper_epochs: int | None = None,
                   seeds: int = 1) -> list[GroupSpec]:
    """The run groups of a profile (``quick`` or ``full``; ``seeds`` verification runs per model;
    ``paper_runs`` / ``paper_epochs`` scale the full profile's reproduction groups, see
    `reproduction_groups`)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    groups = verification_groups(seeds) + [criterion_group()]
    if profile == "full":
        groups += reproduction_groups(paper_runs, paper_epochs) + [stream_group()]
    return groups

"""What each build profile runs: the numeric runs, grouped the way the report's figures use them.

``quick`` (default): one fast-protocol verification run per model (each with its control run), on
the built-in data; it decides the numeric verdicts. ``full``: the same verification runs plus the
paper's experiments with the paper's protocol (Appendix C.3): 10 runs for Fig. 1(a) and 1(b),
100 runs for Fig. 1(c) and for each Fig. 2 variant (batch size 100, learning rate 5e-3).
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
    runner: str = "verify"  # "verify": one numerics.verify run per seed; "sweep": one batched numerics.sweep


def verification_groups() -> list[GroupSpec]:
    """One fast-protocol run per model: the numeric verdicts of the summary table."""
    return [GroupSpec(key=f"verify-{model}", title=f"{label} (fast protocol)", model=model,
                      protocol="fast", role="verify")
            for model, (_, _, label) in MODELS.items()]


_REPRODUCTIONS = (  # key, title, model, the paper's number of runs, training options, variant label
    ("fig1a", "Fig. 1(a): linear VAE on p-PCA", "linear", 10, {}, "base"),
    ("fig1b", "Fig. 1(b): VAE-1 on MNIST", "vae1", 10, {}, "base"),
    ("fig1c", "Fig. 1(c) / 2(a): VAE-3 on PCA-ring", "vae3", 100, {}, "base"),
    ("fig2b", "Fig. 2(b): VAE-3, batch size 100", "vae3", 100, {"batch_size": 100}, "batch 100"),
    ("fig2c", "Fig. 2(c): VAE-3, learning rate 5e-3", "vae3", 100, {"lr": 5e-3}, "lr 0.005"),
)


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
                                options=options, variant=variant, runner="sweep"))
    return groups


def profile_groups(profile: str, *, paper_runs: int | None = None, paper_epochs: int | None = None) -> list[GroupSpec]:
    """The run groups of a profile (``quick`` or ``full``; ``paper_runs`` / ``paper_epochs`` scale the
    full profile's reproduction groups, see `reproduction_groups`)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    groups = verification_groups()
    if profile == "full":
        groups += reproduction_groups(paper_runs, paper_epochs)
    return groups

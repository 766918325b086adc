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


def reproduction_groups() -> list[GroupSpec]:
    """The paper's experiments, Appendix C.3 protocol: Fig. 1(a)-(c) and the Fig. 2 variants.

    Each runs as one batched sweep (``numerics.sweep``: one seed = own initialisation and, for
    generated data, its own data set; MNIST is one fixed set shared by the members).
    """
    return [
        GroupSpec("fig1a", "Fig. 1(a): linear VAE on p-PCA, 10 runs", "linear", "paper", "reproduce",
                  seeds=tuple(range(10)), runner="sweep"),
        GroupSpec("fig1b", "Fig. 1(b): VAE-1 on MNIST, 10 runs", "vae1", "paper", "reproduce",
                  seeds=tuple(range(10)), runner="sweep"),
        GroupSpec("fig1c", "Fig. 1(c) / 2(a): VAE-3 on PCA-ring, 100 runs", "vae3", "paper", "reproduce",
                  seeds=tuple(range(100)), runner="sweep"),
        GroupSpec("fig2b", "Fig. 2(b): VAE-3, batch size 100, 100 runs", "vae3", "paper", "reproduce",
                  seeds=tuple(range(100)), options={"batch_size": 100}, variant="batch 100", runner="sweep"),
        GroupSpec("fig2c", "Fig. 2(c): VAE-3, learning rate 5e-3, 100 runs", "vae3", "paper", "reproduce",
                  seeds=tuple(range(100)), options={"lr": 5e-3}, variant="lr 0.005", runner="sweep"),
    ]


def profile_groups(profile: str) -> list[GroupSpec]:
    """The run groups of a profile (``quick`` or ``full``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    groups = verification_groups()
    if profile == "full":
        groups += reproduction_groups()
    return groups

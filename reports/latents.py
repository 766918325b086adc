"""Fig. 3's inputs from a trained run: encoder means/deviations and reconstructions (numerics.rundir.load_run)."""

from __future__ import annotations

import numpy as np
import torch

from reports.figures import LatentState


def latent_state(path: str, label: str, points: int = 1000, seed: int = 0) -> LatentState:
    """Encode ``points`` training points of the run at ``path`` and decode one sample z ~ q(z|x) each.

    Uses the model interface of ``numerics.models.GaussianVAE``: ``encode(x) -> (nu, tau2)``
    (Eqs. 4-7) and ``decode(z) -> (mu, sigma2)`` (Eq. 2 / Eqs. 34-38).
    """
    from numerics.rundir import load_run

    run = load_run(path)
    if run.model is None:
        raise ValueError(f"{path}: no checkpointed model")
    x_train = run.data[0]
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(x_train), generator=generator)[:points]
    x = x_train[index]
    with torch.no_grad():
        nu, tau2 = run.model.encode(x)
        eps = torch.randn(nu.shape, generator=generator, dtype=nu.dtype)
        z = nu + tau2.sqrt() * eps
        mu, sigma2 = run.model.decode(z)
        sigma = torch.broadcast_to(sigma2, mu.shape).sqrt()
    as_numpy = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    return LatentState(label=label, nu=as_numpy(nu), tau=as_numpy(tau2.sqrt()), x=as_numpy(x),
                       x_rec=as_numpy(mu), sigma=as_numpy(sigma))


def latent_states(runs: list[tuple[str, str]]) -> tuple[list[LatentState], list[str]]:
    """Latent states for (label, path) pairs; runs that cannot be loaded give one note each instead."""
    states, notes = [], []
    for label, path in runs:
        try:
            state = latent_state(path, label)
        except Exception as error:  # a missing checkpoint must not stop the report
            notes.append(f"Fig. 3 panel for {label} not drawn: {type(error).__name__}: {error}")
            continue
        if not (np.isfinite(state.nu).all() and np.isfinite(state.x_rec).all()):
            notes.append(f"Fig. 3 panel for {label} not drawn: non-finite encoder/decoder outputs")
            continue
        states.append(state)
    return states, notes

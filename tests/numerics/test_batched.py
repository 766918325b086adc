"""Batched members = sequential runs: numerics.batched against the plain numerics.training.Trainer."""
from __future__ import annotations

import pytest
import torch

from numerics.batched import BatchedTrainer, Member, initial_state
from numerics.data import load_data
from numerics.models import build_model
from numerics.protocols import Phase, Protocol
from numerics.rundir import RunDir
from numerics.training import Trainer

SEEDS = (0, 1, 2)
N = 120
# Two Adam phases (new optimiser at the boundary), mini-batches with a ragged last batch, 2 samples.
PROTOCOL = Protocol("test", "float64", (
    Phase("adam", steps=2, lr=1e-2, batch_size=64, samples=2, log_every=1, checkpoint_every=1),
    Phase("adam", steps=2, lr=3e-3, batch_size=None, samples=1, log_every=1, checkpoint_every=1)))


def _config(kind: str) -> dict:
    return {"kind": kind, "D": 10, "H": 2, "hidden": (16, 16), "enc_link": "exp", "dec_link": "exp"}


def _data(kind: str, seed: int) -> torch.Tensor:
    return load_data("ppca" if kind == "linear" else "ring", seed=seed, n_train=N, n_test=0).x_train


_CACHE: dict = {}


def _sequential(kind: str, seed: int, tmp_path) -> torch.nn.Module:
    """A plain Trainer run (non-batched nn.Module path) of `seed`; cached across tests."""
    if ("seq", kind, seed) not in _CACHE:
        model = build_model(generator=torch.Generator().manual_seed(seed), **_config(kind))
        rd = RunDir(tmp_path / f"seq-{kind}-{seed}")
        rd.create({})
        Trainer(model, _data(kind, seed), PROTOCOL, rd, seed=seed, progress=False).run()
        _CACHE[("seq", kind, seed)] = model
    return _CACHE[("seq", kind, seed)]


def _batched(kind: str, seeds=SEEDS, protocol=PROTOCOL) -> BatchedTrainer:
    if ("batched", kind, seeds) in _CACHE:
        return _CACHE[("batched", kind, seeds)]
    members = []
    for seed in seeds:
        model = build_model(generator=torch.Generator().manual_seed(seed), **_config(kind))
        members.append(Member(seed, _data(kind, seed), initial_state(model, seed)))
    trainer = BatchedTrainer(_config(kind), members, protocol, device="cpu", eval_samples=4, progress=False)
    trainer.run(fresh=True)
    _CACHE[("batched", kind, seeds)] = trainer
    return trainer


def _max_diff(trainer: BatchedTrainer, k: int, model: torch.nn.Module) -> float:
    state = trainer.member_state(k)["model"]
    return max(float((state[name] - p.detach()).abs().max()) for name, p in model.named_parameters())


@pytest.mark.parametrize("kind", ["vae3", "linear"])
def test_batched_members_equal_sequential_trainer_runs(kind, tmp_path):
    trainer = _batched(kind)
    for k, seed in enumerate(SEEDS):
        reference = _sequential(kind, seed, tmp_path)
        assert _max_diff(trainer, k, reference) < 1e-10


def test_members_equal_sequential_runs_when_batches_are_split_into_chunks(tmp_path, monkeypatch):
    """TRAIN_ROWS small enough that each mini-batch is accumulated over several vmapped chunks."""
    import numerics.batched as batched
    monkeypatch.setattr(batched, "TRAIN_ROWS", 3 * 2 * 10)  # 3 members x 2 samples x 10 points
    members = [Member(seed, _data("vae3", seed), initial_state(build_model(
        generator=torch.Generator().manual_seed(seed), **_config("vae3")), seed)) for seed in SEEDS]
    trainer = BatchedTrainer(_config("vae3"), members, PROTOCOL, device="cpu", eval_samples=4, progress=False)
    assert trainer._points_per_chunk(2) == 10
    trainer.run(fresh=True)
    for k, seed in enumerate(SEEDS):
        assert _max_diff(trainer, k, _sequential("vae3", seed, tmp_path)) < 1e-10


def test_agreement_check_fails_for_a_different_seed(tmp_path):
    """Twin of the agreement test: a sequential run of another seed does NOT match member 0."""
    trainer = _batched("vae3", seeds=(0,))
    assert _max_diff(trainer, 0, _sequential("vae3", 1, tmp_path)) > 1e-3


def test_one_adam_over_stacked_parameters_is_k_independent_adams():
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 4, 5, generator=gen, dtype=torch.float64) for _ in range(6)]
    stacked = torch.zeros(3, 4, 5, dtype=torch.float64, requires_grad=True)
    singles = [torch.zeros(4, 5, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    opt = torch.optim.Adam([stacked], lr=1e-2)
    opts = [torch.optim.Adam([p], lr=1e-2) for p in singles]
    for g in grads:
        stacked.grad = g.clone()
        opt.step()
        for k, (p, o) in enumerate(zip(singles, opts)):
            p.grad = g[k].clone()
            o.step()
    assert torch.equal(stacked.detach(), torch.stack([p.detach() for p in singles]))


def test_member_checkpoint_resumes_in_a_sequential_trainer(tmp_path):
    """A batched member's checkpoint is a Trainer checkpoint: resuming it alone gives the batched result."""
    stop = 2
    members = []
    for seed in SEEDS:
        model = build_model(generator=torch.Generator().manual_seed(seed), **_config("vae3"))
        members.append(Member(seed, _data("vae3", seed), initial_state(model, seed)))
    partial = BatchedTrainer(_config("vae3"), members, PROTOCOL, device="cpu", eval_samples=4, progress=False)
    partial.run(fresh=True, stop_after=stop)
    rd = RunDir(tmp_path / "resumed")
    rd.create({})
    state = partial.member_state(1)
    state.pop("eval_rng")
    rd.save_checkpoint(state)
    model = build_model(**_config("vae3"))
    Trainer(model, _data("vae3", SEEDS[1]), PROTOCOL, rd, seed=SEEDS[1], progress=False).run()
    assert _max_diff(_batched("vae3"), 1, model) < 1e-10


def test_diverging_member_stops_and_the_others_continue(tmp_path):
    members = []
    for seed in SEEDS:
        model = build_model(generator=torch.Generator().manual_seed(seed), **_config("vae3"))
        members.append(Member(seed, _data("vae3", seed), initial_state(model, seed)))
    members[1].x = members[1].x.clone()
    members[1].x[5, 3] = float("nan")  # member 1 diverges at its first step
    failed = []
    trainer = BatchedTrainer(_config("vae3"), members, PROTOCOL, device="cpu", eval_samples=4, progress=False,
                             on_fail=lambda m, _s: failed.append(m.seed))
    out = trainer.run(fresh=True)
    assert failed == [SEEDS[1]]
    assert "diverged at step 1" in out[1].failure
    assert [m.seed for m in trainer.members] == [SEEDS[0], SEEDS[2]]
    reference = _sequential("vae3", SEEDS[2], tmp_path)
    assert _max_diff(trainer, 1, reference) < 1e-10  # member 2 is unaffected


def test_lbfgs_phases_are_refused():
    model = build_model(**_config("vae3"))
    proto = Protocol("x", "float64", (Phase("lbfgs", steps=1),))
    with pytest.raises(ValueError, match="Adam phases only"):
        BatchedTrainer(_config("vae3"), [Member(0, _data("vae3", 0), initial_state(model, 0))], proto, device="cpu")

"""Protocols and the trainer: settings, determinism, resume equivalence, divergence handling."""
import copy
import math

import pytest
import torch

from numerics import estimators
from numerics.data import load_data
from numerics.models import build_model
from numerics.protocols import PROTOCOL_NAMES, Phase, Protocol, get_protocol
from numerics.rundir import RunDir
from numerics.training import DampedNewton, DivergenceError, Trainer


def test_paper_protocol_is_appendix_c3():
    p = get_protocol("paper", "vae3", steps=12)
    (phase,) = p.phases
    assert (phase.kind, phase.lr, phase.batch_size, phase.samples, phase.steps) == ("adam", 1e-3, 2000, 100, 12)
    assert p.dtype == "float32"


def test_fast_protocol_is_float64_and_ends_with_a_fixed_design_phase():
    for model in ("linear", "vae1", "vae2", "vae3"):
        p = get_protocol("fast", model, steps=3, warmup_steps=2)
        assert p.dtype == "float64" and p.phases[-1].kind in ("lbfgs", "newton") and p.phases[-1].steps == 3
        assert all(ph.steps == 2 for ph in p.phases[:-1])
        assert Protocol.from_dict(p.to_dict()) == p


def test_a_phase_dtype_must_be_a_known_one():
    assert Phase("adam", steps=1, dtype="float32").dtype == "float32"
    with pytest.raises(ValueError, match="float64, float32"):
        Phase("adam", steps=1, dtype="float16")


def test_a_protocol_read_back_from_a_config_is_checked_field_by_field():
    """A config.json is untrusted: a garbage protocol_spec is one line, never a TypeError later."""
    good = get_protocol("fast", "vae3").to_dict()
    assert Protocol.from_dict(good) == get_protocol("fast", "vae3")
    phase = dict(good["phases"][0])
    for bad, message in ((None, "must be a protocol"), ({"name": "fast"}, "must be a protocol"),
                         (dict(good, phases=[]), "must be a protocol"),
                         (dict(good, phases=[dict(phase, steps="9")]), "phase 0: 'steps' must be an integer"),
                         (dict(good, phases=[dict(phase, lr=float("inf"))]), "phase 0: 'lr' must be a finite"),
                         (dict(good, phases=[dict(phase, kind="sgd")]), "phase 0: unknown phase kind"),
                         (dict(good, phases=[dict(phase, design="grid")]), "phase 0: unknown design"),
                         (dict(good, phases=[dict(phase, batch_size=0)]), "phase 0: 'batch_size' must be"),
                         (dict(good, phases=[dict(phase, extra=1)]), "phase 0: must be an object with kind"),
                         (dict(good, phases=[dict(phase, samples=True)]), "phase 0: 'samples' must be")):
        with pytest.raises(ValueError, match=message) as caught:
            Protocol.from_dict(bad)
        assert "\n" not in str(caught.value)


def test_the_log_grid_logs_every_early_step_then_about_20_per_decade():
    from numerics.protocols import LOG_PER_DECADE, log_grid

    assert LOG_PER_DECADE == 20
    assert all(log_grid(s, 20) for s in range(1, 10))            # bins of 1/20 decade are wider than a step
    assert all(log_grid(10 ** k, 20) for k in range(1, 7))       # every power of ten starts a bin (exact arithmetic)
    for k in range(2, 6):
        assert sum(log_grid(s, 20) for s in range(10 ** k, 10 ** (k + 1))) == 20
    assert not log_grid(0, 20) and not any(log_grid(s, 0) for s in range(1, 100))
    assert sum(log_grid(s, 20) for s in range(1, 2001)) == 56   # a 2,000-epoch warm start: 56 rows, not 8


def test_the_trainer_logs_adam_on_the_grid_and_every_lbfgs_step(tmp_path):
    """Issue 17's figures need the curves' shape: Adam phases on the logarithmic grid plus every phase end,
    every L-BFGS step; every row has step, phase, seconds (training time) and the residuals."""
    from numerics.protocols import log_grid

    model, x = _setup()
    protocol = Protocol("fast", "float64", (
        Phase("adam", steps=30, lr=1e-2, batch_size=64, log_every=0, log_per_decade=20, checkpoint_every=100),
        Phase("adam", steps=15, lr=1e-3, batch_size=64, log_every=0, log_per_decade=20, checkpoint_every=100),
        Phase("lbfgs", steps=3, design="gauss-hermite", design_size=3, inner_iters=2)))
    run = RunDir(tmp_path / "r")
    Trainer(model, x, protocol, run, seed=0, monitor=_monitor(x), progress=False).run()
    rows = run.read_metrics()
    expected = [0] + [s for s in range(1, 46) if log_grid(s, 20) or s in (30, 45)] + [46, 47, 48]
    assert [r["step"] for r in rows] == expected
    assert [r["phase"] for r in rows] == ["init"] + ["adam"] * (len(expected) - 4) + ["lbfgs"] * 3
    seconds = [r["seconds"] for r in rows]
    assert seconds == sorted(seconds) and all({"elbo", "gap", "loss"} <= set(r) for r in rows)


def test_unknown_protocol_lists_valid_names():
    with pytest.raises(ValueError, match=", ".join(PROTOCOL_NAMES)):
        get_protocol("slow", "vae3")


def _setup(kind="vae3", n=200):
    x = load_data("ring" if kind == "vae3" else "ppca", n_train=n, n_test=0, seed=1).x_train
    model = build_model(kind, x.shape[1], 2, hidden=(8, 8), generator=torch.Generator().manual_seed(0))
    return model, x


def _protocol(warm_dtype=None):
    return Protocol("fast", "float64", (Phase("adam", steps=6, lr=1e-2, batch_size=64, samples=2, log_every=2,
                                              checkpoint_every=4, dtype=warm_dtype),
                                        Phase("lbfgs", steps=4, design="gauss-hermite", design_size=3,
                                              inner_iters=5, checkpoint_every=3)))


def _monitor(x):
    def monitor(model):
        dtype = next(model.parameters()).dtype
        with torch.no_grad():
            ev = estimators.evaluate(copy.deepcopy(model).double(), x, estimators.gauss_hermite_design(3, 2))
        return {"elbo": float(ev.elbo), "gap": float(ev.gap), "dtype": str(dtype)}
    return monitor


def _train(tmp_path, name, stop_after=None, model=None, x=None, warm_dtype=None):
    if model is None:
        model, x = _setup()
    run = RunDir(tmp_path / name)
    run.path.mkdir(exist_ok=True)
    result = Trainer(model, x, _protocol(warm_dtype), run, seed=5, monitor=_monitor(x),
                     progress=False).run(stop_after=stop_after)
    return model, run, result


def test_same_seed_gives_bitwise_identical_runs(tmp_path):
    a, run_a, _ = _train(tmp_path, "a")
    b, run_b, _ = _train(tmp_path, "b")
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(run_a.read_metrics()) == strip(run_b.read_metrics())


@pytest.mark.parametrize("warm_dtype", [None, "float32"])  # one dtype; float32 warm start, float64 polish
@pytest.mark.parametrize("stop_after", [3, 7])  # inside the Adam phase (between checkpoints) and inside L-BFGS
def test_killed_run_resumes_to_the_same_numbers(tmp_path, stop_after, warm_dtype):
    full, run_full, result_full = _train(tmp_path, "full", warm_dtype=warm_dtype)
    _, _, partial = _train(tmp_path, "killed", stop_after=stop_after, warm_dtype=warm_dtype)
    assert partial.stopped == "step-limit"
    model, x = _setup()  # a fresh process: new model object, state only from the run directory
    resumed, run_resumed, result = _train(tmp_path, "killed", model=model, x=x, warm_dtype=warm_dtype)
    assert result.steps == result_full.steps
    for pa, pb in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(pa, pb)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(run_full.read_metrics()) == strip(run_resumed.read_metrics())


def test_a_float32_phase_runs_in_float32_and_the_run_ends_in_its_own_dtype(tmp_path):
    model, run, _ = _train(tmp_path, "mixed", warm_dtype="float32")
    dtypes = {(row["phase"], row["dtype"]) for row in run.read_metrics()}
    assert dtypes == {("init", "torch.float32"), ("adam", "torch.float32"), ("lbfgs", "torch.float64")}
    assert all(p.dtype == torch.float64 for p in model.parameters())
    plain, _, _ = _train(tmp_path, "plain")  # the twin: without the option everything stays float64
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), plain.parameters()))


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    model, x = _setup()
    protocol = Protocol("fast", "float64", (Phase("adam", steps=50, lr=1e6, samples=1, checkpoint_every=1),))
    run = RunDir(tmp_path)
    with pytest.raises(DivergenceError, match="diverged at step .*last good checkpoint"):
        Trainer(model, x, protocol, run, seed=0, progress=False).run()
    state = run.load_checkpoint()
    assert all(bool(torch.isfinite(t).all()) for t in state["model"].values())


def test_injected_nan_is_caught(tmp_path):
    model, x = _setup()
    x = x.clone()
    x[0, 0] = float("nan")
    protocol = Protocol("fast", "float64", (Phase("adam", steps=3, samples=1),))
    with pytest.raises(DivergenceError, match="no checkpoint|last good checkpoint"):
        Trainer(model, x, protocol, RunDir(tmp_path), seed=0, progress=False).run()


def test_a_checkpoint_is_never_written_from_non_finite_parameters(tmp_path):
    model, x = _setup()
    run = RunDir(tmp_path)
    trainer = Trainer(model, x, Protocol("fast", "float64", (Phase("adam", steps=2, samples=1),)), run, seed=0,
                      progress=False)
    trainer.run()
    good = run.load_checkpoint()["model"]
    trainer.save()  # the twin: finite parameters are saved
    with torch.no_grad():
        next(model.parameters())[0].fill_(float("nan"))
    with pytest.raises(DivergenceError, match="last good checkpoint"):
        trainer.save()
    kept = run.load_checkpoint()["model"]
    assert all(torch.equal(kept[k], good[k]) for k in good)


def test_frozen_parameters_do_not_move(tmp_path):
    model, x = _setup()
    frozen = tuple(model.variance_parameters())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    protocol = Protocol("fast", "float64", (Phase("adam", steps=3, lr=1e-2, samples=1),))
    Trainer(model, x, protocol, RunDir(tmp_path), seed=0, frozen=frozen, progress=False).run()
    after = dict(model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in frozen)
    assert not all(torch.equal(before[n], after[n]) for n in after)


def test_damped_newton_drives_the_linear_vae_gradient_to_round_off():
    model, x = _setup("linear", n=300)
    params = list(model.parameters())
    newton = DampedNewton(params)
    loss_fn = lambda: -estimators.elbo_objective(model, x, None)  # noqa: E731
    lbfgs = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    lbfgs.step(closure)
    for _ in range(20):
        _, stalled = newton.step(loss_fn)
        if stalled:
            break
    grad = torch.autograd.grad(loss_fn(), params)
    assert max(float(g.abs().max()) for g in grad) < 1e-10
    assert math.isfinite(newton.lam)


def test_control_protocol_is_a_short_float64_polish_on_the_fast_design():
    from numerics.protocols import control_protocol
    for model in ("linear", "vae1", "vae2", "vae3"):
        c = control_protocol(model)
        fast_polish = [p for p in get_protocol("fast", model).phases if p.kind == "lbfgs"][-1]
        (phase,) = c.phases
        assert c.dtype == "float64" and phase.kind == "lbfgs" and phase.steps == 1
        assert (phase.design, phase.design_size) == (fast_polish.design, fast_polish.design_size)
        assert phase.inner_iters <= fast_polish.inner_iters * fast_polish.steps
    with pytest.raises(ValueError, match="valid: linear, vae1, vae2, vae3"):
        control_protocol("vae9")


def test_rqmc_fixed_design_is_per_point_and_reproducible():
    from numerics.training import fixed_design
    phase = Phase("lbfgs", steps=1, design="rqmc", design_size=8)
    a = fixed_design(phase, 30, 2, seed=4, dtype=torch.float64, device="cpu")
    b = fixed_design(phase, 30, 2, seed=4, dtype=torch.float64, device="cpu")
    c = fixed_design(phase, 30, 2, seed=5, dtype=torch.float64, device="cpu")
    assert a.kind == "rqmc" and a.eps.shape == (8, 30, 2) and not a.shared
    assert torch.equal(a.eps, b.eps) and not torch.equal(a.eps, c.eps)


def test_lbfgs_on_an_rqmc_design_resumes_to_the_same_numbers(tmp_path):
    protocol = Protocol("fast", "float64", (Phase("adam", steps=2, lr=1e-2, batch_size=64, samples=2),
                                            Phase("lbfgs", steps=3, design="rqmc", design_size=4, inner_iters=4)))

    def run(name, stop_after=None):
        model, x = _setup()
        (tmp_path / name).mkdir(exist_ok=True)
        result = Trainer(model, x, protocol, RunDir(tmp_path / name), seed=3, progress=False,
                         chunk_size=50).run(stop_after=stop_after)
        return model, result

    full, _ = run("full")
    run("cut", stop_after=3)
    resumed, result = run("cut")
    assert result.steps == 5
    assert all(torch.equal(p, q) for p, q in zip(full.parameters(), resumed.parameters()))

"""python -m numerics.sweep: sharding, aggregation over shards, resume, verdicts, CLI errors."""
from __future__ import annotations

import json
import math

import pytest

from numerics import sweep
from numerics.rundir import RunDir, load_run

TINY = ["--model", "vae3", "--n-train", "48", "--epochs", "3", "--batch-size", "16", "--hidden", "8,8",
        "--eval-samples", "2", "--dtype", "float64", "--device", "cpu", "--no-progress"]


def _run(argv) -> int:
    """sweep.main's exit status (argparse's own errors raise SystemExit)."""
    try:
        return sweep.main([str(a) for a in argv])
    except SystemExit as exit_:
        return exit_.code


def _strip(result: dict) -> dict:
    """The statistics of an aggregate (without where the files were and wall times)."""
    return {k: v for k, v in result.items() if k not in ("sources", "final_seconds")}


# -- sharding ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_cover_every_seed_exactly_once(n):
    seeds = list(range(5, 25))
    parts = [sweep.shard_seeds(seeds, (i, n)) for i in range(n)]
    assert sorted(s for part in parts for s in part) == seeds
    assert parts == [sweep.shard_seeds(seeds, (i, n)) for i in range(n)]  # deterministic


@pytest.mark.parametrize("text", ["2/2", "-1/3", "1", "a/b", "1/0", "1/2/3", ""])
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(sweep.UsageError, match="bad --shard"):
        sweep.parse_shard(text)


@pytest.mark.parametrize("argv, message", [
    (["--shard", "3/2"], "bad --shard"),
    (["--shard", "x"], "bad --shard"),
    (["--runs", "2", "--shard", "4/8"], "selects no seed"),
    (["--model", "vae9"], "valid: linear, vae1, vae2, vae3"),
    (["--protocol", "slow"], "valid: fast, paper"),
    (["--runs", "0"], "--runs 0 is out of range: allowed 1 to"),
    (["--device", "tpu"], "valid: auto, cpu, cuda"),
    (["--data", "cifar"], "valid: ppca, ring, mnist"),
    (["--runs", "abc"], "invalid int value: 'abc'"),  # argparse's own errors: one line too
])
def test_cli_usage_errors_exit_2_with_one_line(argv, message, capsys, tmp_path):
    assert _run([*argv, "--out", tmp_path / "x"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


# -- sweep, shards, aggregate ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """A 4-run sweep in one folder, the same 4 runs as two shards in two folders."""
    root = tmp_path_factory.mktemp("sweeps")
    whole, s0, s1 = root / "whole", root / "s0", root / "s1"
    codes = [_run([*TINY, "--runs", 4, "--out", whole]),
             _run([*TINY, "--runs", 4, "--shard", "0/2", "--out", s0]),
             _run([*TINY, "--runs", 4, "--shard", "1/2", "--out", s1])]
    return root, whole, s0, s1, codes


def test_sweep_writes_run_dirs_and_aggregate(sweeps):
    _, whole, s0, s1, codes = sweeps
    assert codes == [5, 5, 5]  # 3 epochs do not reach the paper's rel_gap: the sweep must say NOT-CONVERGED
    assert sorted(p.name for p in whole.glob("run-seed*")) == [f"run-seed000{i}" for i in range(4)]
    assert sorted(p.name for p in s0.glob("run-seed*")) == ["run-seed0000", "run-seed0002"]
    assert sorted(p.name for p in s1.glob("run-seed*")) == ["run-seed0001", "run-seed0003"]
    result = json.loads((whole / "aggregate.json").read_text())
    assert result["runs"] == 4 and result["finished"] == 4 and result["status"] == "NOT-CONVERGED"
    assert result["member_statuses"]["NOT-CONVERGED"] == 4 and result["checks"][1]["status"] == "PASS"
    assert [row["step"] for row in result["curve"]] == [0, 1, 2, 3]
    run = load_run(whole / "run-seed0002")  # docs/interfaces.md: the run directory reads back
    assert run.config["seed"] == 2 and run.model is not None and run.summary["claim"] == "prop3"
    keys = {"step", "seconds", "elbo", "elbo_se", "entropy_sum", "gap", "rel_gap", "residual_decoder",
            "residual_prior", "identity_error"}
    assert all(keys <= set(row) for row in run.metrics)
    last = run.metrics[-1]
    assert math.isclose(last["rel_gap"], abs(last["gap"]) / abs(last["elbo"]), rel_tol=1e-12)
    assert run.summary["rel_gap"] == last["rel_gap"]
    assert run.summary["status"] == "NOT-CONVERGED" and run.summary["reason"]
    cert = run.summary["certificate"]
    assert cert["holds"] and cert["covered"] and cert["design"]["points"] == 48
    assert run.summary["convergence"]["grade"] == "not-converged"


def test_aggregate_over_shards_equals_aggregate_over_whole(sweeps):
    _, whole, s0, s1, _ = sweeps
    merged = sweep.aggregate([s0, s1])
    assert merged["seeds"] == [0, 1, 2, 3]
    assert _strip(merged) == _strip(sweep.aggregate([s1, s0]))
    assert _strip(merged) == _strip(sweep.aggregate(sorted(s0.glob("run-seed*")) + sorted(s1.glob("run-seed*"))))
    ref = sweep.aggregate([whole])
    for a, b in zip(merged["curve"], ref["curve"], strict=True):  # batches of 2 vs 4: float round-off only
        assert a["step"] == b["step"] and a["n"] == b["n"] == 4
        for key in ("median", "q25", "q75", "mean_signed"):
            assert math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-12)


def test_aggregate_median_matches_numpy_on_the_runs(sweeps):
    _, whole, *_ = sweeps
    import numpy as np

    finals = [RunDir(p).read_summary()["rel_gap"] for p in sorted(whole.glob("run-seed*"))]
    result = sweep.aggregate([whole])
    assert math.isclose(result["final_rel_gap"]["median"], float(np.median(finals)), rel_tol=1e-12)


def test_aggregate_refuses_duplicate_seeds_and_mixed_sweeps(sweeps, tmp_path):
    root, whole, s0, _, _ = sweeps
    with pytest.raises(ValueError, match="more than one run directory"):
        sweep.aggregate([whole, s0])
    other = tmp_path / "other"
    assert _run([*TINY, "--runs", 1, "--seed0", 9, "--epochs", 2, "--out", other]) == 5
    with pytest.raises(ValueError, match="not one sweep"):
        sweep.aggregate([whole, other])


def test_aggregate_cli_merges_shards(sweeps, tmp_path, capsys):
    _, _, s0, s1, _ = sweeps
    assert _run(["--aggregate", s0, s1, "--out", tmp_path / "agg", "--json"]) == 5
    printed = json.loads(capsys.readouterr().out)
    assert printed["seeds"] == [0, 1, 2, 3]
    assert json.loads((tmp_path / "agg" / "aggregate.json").read_text())["seeds"] == [0, 1, 2, 3]


def _fake_run(path, seed: int, rel_gaps: list[float], message: str | None = None, status: str = "PASS") -> None:
    rd = RunDir(path)
    rd.create({"model": "vae3", "data": "ring", "protocol": "fast", "seed": seed})
    for step, r in enumerate(rel_gaps):
        rd.append_metrics({"step": step, "elbo": 10.0, "entropy_sum": 10.0 - 10.0 * r, "rel_gap": r})
    rd.write_summary({"status": "FAIL" if message else status, "rel_gap": rel_gaps[-1], "message": message,
                      "seconds": 1.0, "certificate": None if message else {"holds": status != "FAIL"}})


def test_sweep_verdict_passes_small_gaps_and_fails_large_gaps_or_divergence(tmp_path):
    for seed in range(3):
        _fake_run(tmp_path / "good" / f"run-seed{seed:04d}", seed, [0.3, 0.01, 0.001 * (seed + 1)])
        _fake_run(tmp_path / "bad" / f"run-seed{seed:04d}", seed, [0.3, 0.01, 0.006 + 0.001 * seed])
    good, bad = sweep.aggregate([tmp_path / "good"]), sweep.aggregate([tmp_path / "bad"])
    assert good["status"] == "PASS" and math.isclose(good["final_rel_gap"]["median"], 0.002)
    assert good["curve"][1]["median"] == 0.01 and good["curve"][2]["q75"] == pytest.approx(0.0025)
    assert bad["status"] == "NOT-CONVERGED" and bad["checks"][2]["status"] == "NOT-CONVERGED"
    _fake_run(tmp_path / "good" / "run-seed0003", 3, [0.3, 0.001], message="diverged at step 2")
    diverged = sweep.aggregate([tmp_path / "good"])
    assert diverged["status"] == "FAIL" and diverged["failed_seeds"] == [3]


def test_a_member_that_failed_its_certificate_fails_the_sweep_and_not_covered_members_show(tmp_path):
    for seed in range(3):
        _fake_run(tmp_path / "s" / f"run-seed{seed:04d}", seed, [0.3, 0.001])
    _fake_run(tmp_path / "s" / "run-seed0003", 3, [0.3, 0.001], status="NOT-COVERED")
    result = sweep.aggregate([tmp_path / "s"])
    assert result["status"] == "NOT-COVERED" and result["member_statuses"]["NOT-COVERED"] == 1
    _fake_run(tmp_path / "s" / "run-seed0004", 4, [0.3, 0.001], status="FAIL")
    result = sweep.aggregate([tmp_path / "s"])
    assert result["status"] == "FAIL" and result["checks"][1]["value"] == 1 and "seeds [4]" in result["checks"][1]["detail"]
    old = RunDir(tmp_path / "s" / "run-seed0004")  # a FAIL written before the certificate existed: not one
    old.write_summary({"status": "FAIL", "rel_gap": 0.001, "message": None, "seconds": 1.0})
    assert sweep.aggregate([tmp_path / "s"])["checks"][1]["status"] == "PASS"


def test_member_summary_uses_the_rules_of_verify():
    from numerics.data import load_data
    from numerics.models import build_model
    from numerics.verdict import certificate

    x = load_data("ring", n_train=60, n_test=0).x_train
    config = {"model": "vae3", "latent_dim": 2, "device": "cpu", "dtype": "float64", "seed": 0, "protocol": "fast",
              "data": "ring", "enc_link": "exp", "dec_link": "softplus", "versions": {}, "eval_samples": 8,
              "sweep": {}}
    cert = certificate(build_model("vae3", 10, 2, hidden=(4,), dec_link="softplus"), x, 0)
    row = {"elbo": 10.0, "gap": 1e-5, "gap_se": 1e-5, "entropy_sum": 10.0 - 1e-5, "rel_gap": 1e-6, "step": 3}
    summary = sweep.member_summary(config, row, None, 1.0, cert)
    assert summary["status"] == "NOT-COVERED" and summary["control"] is None
    cert = certificate(build_model("vae3", 10, 2, hidden=(4,)), x, 0)
    assert sweep.member_summary(dict(config, dec_link="exp"), row, None, 1.0, cert)["reason"].endswith(
        "grade stationary (rel_gap 1e-06 measured)")
    assert sweep.member_summary(config, None, "diverged at step 2", 1.0, None)["status"] == "FAIL"


# -- resume --------------------------------------------------------------------------------------------

def _opts(out, runs=2, epochs=3) -> dict:
    args = sweep._parser().parse_args([str(a) for a in [*TINY, "--runs", runs, "--epochs", epochs, "--out", out]])
    return sweep._options(args)


def test_killed_sweep_resumes_to_the_uninterrupted_numbers_and_skips_finished(tmp_path):
    sweep.run_sweep(_opts(tmp_path / "straight"), progress=False)
    killed = _opts(tmp_path / "killed")
    sweep.run_sweep(killed, progress=False, stop_after=1)
    assert RunDir(tmp_path / "killed" / "run-seed0000").read_summary() is None
    result = sweep.run_sweep(killed, progress=False)
    assert result["skipped_finished"] == 0
    for name in ("run-seed0000", "run-seed0001"):
        a = RunDir(tmp_path / "straight" / name).read_metrics()
        b = RunDir(tmp_path / "killed" / name).read_metrics()
        assert [r["step"] for r in a] == [r["step"] for r in b] == [0, 1, 2, 3]
        assert [r["elbo"] for r in a] == [r["elbo"] for r in b]
        assert [r["rel_gap"] for r in a] == [r["rel_gap"] for r in b]
    summary = (tmp_path / "killed" / "run-seed0001" / "summary.json").read_text()
    again = sweep.run_sweep(killed, progress=False)
    assert again["skipped_finished"] == 2
    assert (tmp_path / "killed" / "run-seed0001" / "summary.json").read_text() == summary


def test_resume_with_a_different_configuration_is_refused(tmp_path, capsys):
    sweep.run_sweep(_opts(tmp_path / "s", runs=1, epochs=2), progress=False)
    assert _run([*TINY, "--runs", 1, "--epochs", 2, "--lr", "0.5", "--out", tmp_path / "s"]) == 2
    assert "different protocol_def" in capsys.readouterr().err

"""Run directories: strict JSON, fsync'ed metrics, atomic checkpoints loaded with weights_only=True."""
import json
import math

import numpy as np
import pytest
import torch

from numerics import rundir as rundir_module
from numerics.rundir import RunDir, json_safe, load_run


def test_json_safe_turns_non_finite_and_tensors_into_json():
    out = json_safe({"a": float("nan"), "b": torch.tensor([1.0, float("inf")]), "c": np.float64(2.5)})
    assert out == {"a": None, "b": [1.0, None], "c": 2.5}
    json.dumps(out, allow_nan=False)


def test_create_refuses_an_existing_run(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create({"x": 1})
    assert run.read_config() == {"x": 1}
    with pytest.raises(rundir_module.RunDirError, match="already holds a run; resume it"):
        run.create({"x": 2})


def test_metrics_append_rewind_and_cut_line(tmp_path):
    run = RunDir(tmp_path)
    for step in range(5):
        run.append_metrics({"step": step, "elbo": float(step)})
    run.rewind_metrics(2)
    assert [r["step"] for r in run.read_metrics()] == [0, 1, 2]
    with open(tmp_path / "metrics.jsonl", "a") as handle:  # a kill in the middle of a write
        handle.write('{"step": 3, "el')
    assert [r["step"] for r in run.read_metrics()] == [0, 1, 2]


def test_checkpoint_roundtrip_with_optimisers_and_generators_weights_only(tmp_path):
    p = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
    adam, lbfgs = torch.optim.Adam([p]), torch.optim.LBFGS([p], line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = (p ** 4).sum()
        loss.backward()
        return loss

    closure()
    adam.step()
    lbfgs.step(closure)
    gen = torch.Generator().manual_seed(3)
    state = {"p": p.detach(), "adam": adam.state_dict(), "lbfgs": lbfgs.state_dict(), "rng": gen.get_state(),
             "step": 7, "phase_ends": [{"kind": "adam", "loss": 1.5}]}
    run = RunDir(tmp_path)
    run.save_checkpoint(state)
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
    back = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert torch.equal(back["p"], p.detach()) and back["step"] == 7
    assert back["lbfgs"]["state"][0]["prev_loss"] == lbfgs.state_dict()["state"][0]["prev_loss"]
    assert torch.equal(back["rng"], gen.get_state())


def test_data_npz_roundtrip(tmp_path):
    run = RunDir(tmp_path)
    a, b = torch.randn(5, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    run.save_data(a, b)
    x_train, x_test = run.load_data()
    assert np.array_equal(x_train, a.numpy()) and np.array_equal(x_test, b.numpy())


def test_load_run_rebuilds_model_and_data(tmp_path):
    from numerics.verify import run_verification

    summary = run_verification(model="linear", data="ppca", device="cpu", n_train=200, n_test=50,
                               out=tmp_path / "run", progress=False, control=False)
    run = load_run(tmp_path / "run")
    assert run.summary["status"] == summary["status"] and run.config["model"] == "linear"
    assert run.data[0].shape == (200, 10) and run.data[1].shape == (50, 10)
    assert run.metrics and all("elbo" in r for r in run.metrics)
    from numerics import estimators
    assert math.isclose(float(estimators.evaluate(run.model, run.data[0], None).elbo.detach()), summary["elbo"],
                        rel_tol=0, abs_tol=1e-12)


def test_load_run_refuses_a_non_run(tmp_path):
    with pytest.raises(rundir_module.RunDirError, match="is not a run directory \\(no config.json\\)"):
        load_run(tmp_path)


# ------------------------------------------------------------------ issue 16: run directories under bad input
import os
import pickle
import subprocess
import sys
from pathlib import Path

LINEAR_FAST = dict(model="linear", data="ppca", device="cpu", n_train=200, n_test=0, progress=False)


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir() if p.is_file()}


def test_a_bad_metrics_line_costs_no_other_row_and_nothing_is_rewritten(tmp_path):
    """Issue 16, 2: with one bad line 5, resuming (rewind to the checkpoint's step 100) deleted 97 of 101 rows."""
    run = RunDir(tmp_path)
    for step in range(101):
        run.append_metrics({"step": step, "elbo": float(step)})
    path = tmp_path / "metrics.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = "this is not JSON\n"
    path.write_text("".join(lines))
    before = path.read_bytes()
    run.rewind_metrics(100)                      # what a resume from the checkpoint at step 100 does
    assert path.read_bytes().startswith(before)    # append-only: every earlier byte is still there
    assert [r["step"] for r in run.read_metrics()] == [s for s in range(101) if s != 4]
    log = rundir_module.read_metrics_log(path)
    assert log.bad_lines == [5] and log.superseded == 0


def test_rewind_appends_a_marker_that_supersedes_replayed_steps(tmp_path):
    run = RunDir(tmp_path)
    for step in range(6):
        run.append_metrics({"step": step, "elbo": float(step)})
    before = (tmp_path / "metrics.jsonl").read_bytes()
    run.rewind_metrics(3)                           # checkpoint at step 3: steps 4, 5 are replayed
    for step in (4, 5):
        run.append_metrics({"step": step, "elbo": 10.0 + step})
    assert (tmp_path / "metrics.jsonl").read_bytes().startswith(before)
    assert [(r["step"], r["elbo"]) for r in run.read_metrics()] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0),
                                                                     (4, 14.0), (5, 15.0)]
    assert rundir_module.read_metrics_log(tmp_path / "metrics.jsonl").superseded == 2
    run.rewind_metrics(5)                           # nothing past step 5: nothing appended
    run.rewind_metrics(-1)                          # a restart supersedes every row
    assert run.read_metrics() == []


def test_a_half_written_last_line_is_set_aside_and_nothing_else(tmp_path):
    run = RunDir(tmp_path)
    for step in range(3):
        run.append_metrics({"step": step})
    with open(tmp_path / "metrics.jsonl", "a") as handle:  # a kill in the middle of a write
        handle.write('{"step": 3, "el')
    assert [r["step"] for r in run.read_metrics()] == [0, 1, 2]
    log = rundir_module.read_metrics_log(tmp_path / "metrics.jsonl")
    assert log.partial_tail and log.bad_lines == []
    run.append_metrics({"step": 3})                # the next writer sets the fragment aside first
    text = (tmp_path / "metrics.jsonl").read_text()
    assert text.endswith('{"step": 3}\n') and '"el' not in text
    assert [r["step"] for r in run.read_metrics()] == [0, 1, 2, 3]
    assert (tmp_path / rundir_module.METRICS_CUT).read_text() == '{"step": 3, "el\n'


def test_metrics_reader_refuses_what_the_kit_never_writes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 0}\n[1, 2]\n{"elbo": 1.0}\n{"step": "7"}\n{"step": 1, "elbo": NaN}\n'
                     b'\xff\xfe\n{"step": true}\n{"step": 2}\n')
    log = rundir_module.read_metrics_log(path)
    assert [r["step"] for r in log.rows] == [0, 2] and log.bad_lines == [2, 3, 4, 5, 6, 7]


def test_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    """Issue 16, 2: two writers on one run directory interleaved 146 rows for 101 steps."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom numerics.rundir import RunDir\n"
                               "RunDir(sys.argv[1]).acquire()\nprint('locked', flush=True)\ntime.sleep(60)\n",
         str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = RunDir(tmp_path / "run")
        with pytest.raises(rundir_module.RunDirLocked, match=f"in use by another process \\(pid {holder.pid}"):
            second.acquire()
        with pytest.raises(rundir_module.RunDirLocked):
            second.append_metrics({"step": 0})     # even a single write without the lock is refused
        assert not (tmp_path / "run" / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    with RunDir(tmp_path / "run") as run:          # a killed holder leaves no stale lock
        run.append_metrics({"step": 0})
        inner = RunDir(tmp_path / "run")           # the same process may open the folder again
        inner.append_metrics({"step": 1})
    assert [r["step"] for r in RunDir(tmp_path / "run").read_metrics()] == [0, 1]


def test_nothing_is_written_through_a_symlinked_folder_or_file(tmp_path):
    """Issue 16, 2: a control/ that is a symlink made --resume write outside the run directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    run_path = tmp_path / "run"
    RunDir(run_path).create({"x": 1})
    (run_path / "control").symlink_to(outside)
    control = RunDir(run_path).control()
    for write in (lambda: control.create({"x": 1}), lambda: control.append_metrics({"step": 0}),
                  lambda: control.save_checkpoint({"step": 0}), lambda: control.write_summary({"status": "PASS"}),
                  control.exists):
        with pytest.raises(rundir_module.UnsafePathError, match="symbolic link"):
            write()
    (run_path / "summary.json").symlink_to(outside / "target.json")
    with pytest.raises(rundir_module.UnsafePathError):
        RunDir(run_path).read_summary()
    (tmp_path / "linked-run").symlink_to(run_path)
    with pytest.raises(rundir_module.UnsafePathError):
        RunDir(tmp_path / "linked-run").append_metrics({"step": 0})
    assert list(outside.iterdir()) == []


def test_a_fifo_in_place_of_a_file_is_refused_not_waited_on(tmp_path):
    run = RunDir(tmp_path)
    for name, read in (("config.json", run.read_config), ("checkpoint.pt", run.load_checkpoint),
                       ("metrics.jsonl", run.read_metrics)):
        os.mkfifo(tmp_path / name)
        with pytest.raises(rundir_module.UnsafePathError, match="FIFO"):
            read()
    with pytest.raises(OSError, match="not a regular file"):
        rundir_module.read_metrics_log(tmp_path / "metrics.jsonl")
    os.symlink(tmp_path / "config.json", tmp_path / "link.jsonl")
    with pytest.raises(OSError):
        rundir_module.read_metrics_log(tmp_path / "link.jsonl")


def test_resume_with_a_symlinked_control_writes_nothing_outside(tmp_path):
    from numerics.verify import run_verification

    out, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    assert run_verification(**LINEAR_FAST, out=out, stop_after=2) is None
    (out / "control").symlink_to(outside)
    with pytest.raises(rundir_module.UnsafePathError):
        run_verification(out=out, resume=True, progress=False)
    assert list(outside.iterdir()) == []


def test_resume_keeps_the_history_around_a_corrupt_line(tmp_path):
    from numerics.verify import run_verification

    out = tmp_path / "run"
    assert run_verification(**LINEAR_FAST, out=out, control=False, stop_after=3) is None
    path = out / "metrics.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "garbage\n"
    path.write_text("".join(lines))
    before = path.read_bytes()
    run_verification(out=out, resume=True, progress=False)
    assert path.read_bytes().startswith(before)
    steps = [r["step"] for r in RunDir(out).read_metrics()]
    assert steps == sorted(steps) and 0 in steps and 2 in steps and 1 not in steps and steps[-1] >= 4


def test_files_are_created_with_the_users_umask(tmp_path):
    """Issue 16, 2: atomic writes went through mkstemp and left config, checkpoint and summary 0600."""
    from numerics.verify import run_verification

    old = os.umask(0o022)
    try:
        run_verification(**LINEAR_FAST, out=tmp_path / "run", control=False)
    finally:
        os.umask(old)
    modes = _modes(tmp_path / "run")
    assert {"config.json", "checkpoint.pt", "summary.json", "metrics.jsonl", "data.npz"} <= set(modes)
    assert set(modes.values()) == {0o644}, modes
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755


def test_out_at_a_file_or_in_a_read_only_folder_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(rundir_module.RunDirError, match="not a directory"):
        RunDir(tmp_path / "file").create({"x": 1})
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root ignores folder permissions: the OS's refusal is simulated
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(locked / "run"))
        monkeypatch.setattr(os, "makedirs", refuse)
    with pytest.raises(rundir_module.RunDirError, match=f"cannot create run directory {locked / 'run'}: Permission denied"):
        RunDir(locked / "run").create({"x": 1})


@pytest.mark.parametrize("text, message", [
    ("[1, 2", "not valid JSON"), ("[1, 2]", "not a JSON object"), ("", "not valid JSON"),
    ('{"a": NaN}', "not valid JSON"), (b"\xff\xfe", "not valid JSON"),
])
def test_garbage_config_and_summary_are_one_clear_error(tmp_path, text, message):
    run = RunDir(tmp_path)
    for name, read in (("config.json", run.read_config), ("summary.json", run.read_summary)):
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(rundir_module.RunDirError, match=message) as caught:
            read()
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def _finished_linear_run(tmp_path) -> Path:
    from numerics.verify import run_verification

    run_verification(**LINEAR_FAST, out=tmp_path / "run", control=False)
    return tmp_path / "run"


@pytest.mark.parametrize("field, value, message", [
    ("model", 5, "'model' must be one of linear, vae1, vae2, vae3"),
    ("dtype", "float16", "'dtype' must be one of"),
    ("latent_dim", "2", "'latent_dim' must be an integer"),
    ("latent_dim", 0, "'latent_dim' must be an integer from 1"),
    ("latent_dim", 100_000_000, "'latent_dim' must be an integer from 1"),
    ("hidden", [50, -5], "'hidden' must be a list of integers"),
    ("seed", None, "'seed' must be an integer"),
    ("data", None, "'data' must be one of"),
])
def test_load_run_refuses_a_wrong_typed_config(tmp_path, field, value, message):
    path = _finished_linear_run(tmp_path)
    config = json.loads((path / "config.json").read_text())
    config[field] = value
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(rundir_module.RunDirError, match=message):
        load_run(path)


@pytest.mark.parametrize("summary, message", [
    ({"status": 1}, "'status' must be one of PASS, FAIL, NOT-COVERED, NOT-CONVERGED, got 1"),
    ({"status": "VERIFIED"}, "'status' must be one of PASS"),
    ({"rel_gap": 0.1}, "no 'status'"),
    ({"status": "PASS", "rel_gap": "small"}, "'rel_gap' must be a finite number or null, got 'small'"),
    ({"status": "PASS", "checks": {"a": 1}}, "'checks' must be a list of objects"),
])
def test_load_run_refuses_a_wrong_typed_summary(tmp_path, summary, message):
    path = _finished_linear_run(tmp_path)
    (path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(rundir_module.RunDirError, match=message):
        load_run(path)


def _evil_pickle(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"model": Payload()}, protocol=2)


def _evil_torch_save(marker: Path) -> bytes:
    import io

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    buffer = io.BytesIO()
    torch.save({"model": Payload()}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("make, reason", [
    (lambda good, marker: good[: len(good) // 2], "not a complete PyTorch checkpoint"),
    (lambda good, marker: b"", "the file is empty"),
    (lambda good, marker: b"not a checkpoint at all", "not a complete PyTorch checkpoint"),
    (lambda good, marker: _evil_pickle(marker), "refused"),
    (lambda good, marker: _evil_torch_save(marker), "refers to the Python object"),
])
def test_an_unreadable_checkpoint_is_one_line_without_unsafe_advice(tmp_path, make, reason):
    """Issue 16, 3: torch's traceback told the user that weights_only=False 'will likely succeed'."""
    path = _finished_linear_run(tmp_path)
    marker = tmp_path / "payload-ran"
    good = (path / "checkpoint.pt").read_bytes()
    (path / "checkpoint.pt").write_bytes(make(good, marker))
    with pytest.raises(rundir_module.CheckpointError) as caught:
        load_run(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read checkpoint {path / 'checkpoint.pt'}: ") and reason in message
    assert "weights_only" not in message and "\n" not in message
    assert not marker.exists()


def test_another_models_checkpoint_is_refused_clearly(tmp_path):
    path = _finished_linear_run(tmp_path)
    state = torch.load(path / "checkpoint.pt", weights_only=True)
    state["model"]["W"] = torch.zeros(3, 3, dtype=torch.float64)
    del state["model"]["V"]
    state["model"]["extra"] = torch.zeros(1)
    torch.save(state, path / "checkpoint.pt")
    with pytest.raises(rundir_module.CheckpointError,
                       match="holds another model: missing V; unexpected extra; W has shape \\[3, 3\\], the run needs \\[10, 2\\]"):
        load_run(path)
    torch.save([1, 2, 3], path / "checkpoint.pt")
    with pytest.raises(rundir_module.CheckpointError, match="not a training state"):
        load_run(path)


def test_projection_cli_reports_a_hostile_checkpoint_in_one_line(tmp_path, capsys):
    from numerics import projection

    path = _finished_linear_run(tmp_path)
    (path / "checkpoint.pt").write_bytes(_evil_pickle(tmp_path / "payload-ran"))
    assert projection.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read checkpoint" in err and "weights_only" not in err
    assert not (tmp_path / "payload-ran").exists()

"""Issue 16 through the CLIs: every failure the issue lists ("Why", items 2-6) as the user met it, plus
Ctrl-C, divergence, `--hidden`, threads and `--device` (docs/reliability.md).

Each test calls a CLI's `main(argv)` as a user would and asserts a documented exit code, at most one line
on stderr, no traceback and, for a rejected command, nothing created. Where the old code would have run
away (`--threads 1000`, `--latent-dim 1e8`), the step it would have reached is replaced by one that fails
the test, so the test is safe to run against any version.
"""
from __future__ import annotations

import fcntl
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from numerics import projection, sweep, verify
from numerics.rundir import RunDir


def _cli(main, argv) -> tuple[int, list[str]]:
    """(exit code, stderr lines) of `main(argv)`; an exception other than SystemExit propagates (a traceback)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue().splitlines()


def _one_line(lines: list[str], needle: str) -> None:
    assert len(lines) == 1, lines
    assert needle in lines[0], lines
    assert "Traceback" not in lines[0] and "weights_only" not in lines[0]


def _no_run_away(monkeypatch) -> None:
    """Make the steps a bad value used to reach fail the test instead of allocating or spinning threads."""
    def reached(*args, **kwargs):
        raise AssertionError("validation let the value through to training")

    monkeypatch.setattr(torch, "set_num_threads", reached)
    monkeypatch.setattr(verify, "build_model", reached)
    monkeypatch.setattr(sweep, "build_model", reached)


def write_idx(path: Path, arr: np.ndarray) -> Path:
    header = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    path.write_bytes(header + np.asarray(arr, dtype=">u1").tobytes())
    return path


def idx_dir(folder: Path, n: int = 40, side: int = 4, seed: int = 0) -> Path:
    """A tiny MNIST folder: n images of side x side pixels and their labels."""
    folder.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(seed).integers(0, 256, size=(n, side, side))
    write_idx(folder / "train-images-idx3-ubyte", images)
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(n) % 10)
    return folder


TINY_VAE1 = ["--model", "vae1", "--n-test", "0", "--steps", "1", "--warmup-steps", "1", "--hidden", "4",
             "--eval-samples", "2", "--no-control", "--no-progress", "--device", "cpu"]
LINEAR = dict(model="linear", data="ppca", device="cpu", n_train=100, n_test=0, progress=False, control=False)


# -------------------------------------------------------------------------------------------------
# 2. lost and corrupted history: a second writer
# -------------------------------------------------------------------------------------------------
def test_a_second_writer_on_a_training_run_is_one_line_and_appends_nothing(tmp_path):
    """Issue 16, 2: `--resume D` while D was training interleaved 146 rows for 101 steps."""
    import subprocess

    out = tmp_path / "run"
    assert verify.run_verification(out=out, stop_after=1, **LINEAR) is None
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom numerics.rundir import RunDir\n"
                               "RunDir(sys.argv[1]).acquire()\nprint('locked', flush=True)\ntime.sleep(60)\n",
         str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = (out / "metrics.jsonl").read_bytes()
        code, err = _cli(verify.main, ["--resume", out])
        assert code == 2
        _one_line(err, f"is in use by another process (pid {holder.pid}")
        assert (out / "metrics.jsonl").read_bytes() == before
    finally:
        holder.kill()
        holder.wait()


def _lock_is_held(folder: Path) -> bool:
    """True when some open file description holds the writer lock of `folder` (flock conflicts between
    descriptions, also within one process)."""
    fd = os.open(folder / "writer.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_verify_holds_the_writer_lock_for_its_whole_run(tmp_path, monkeypatch):
    """Issue 16, 2: each write took the lock for itself, so a second process could start between two."""
    out = tmp_path / "run"
    seen = []
    real = verify.evaluate_fresh

    def probe(*args, **kwargs):  # between training and the summary: no write in flight
        seen.append(_lock_is_held(out))
        return real(*args, **kwargs)

    monkeypatch.setattr(verify, "evaluate_fresh", probe)
    code, _ = _cli(verify.main, ["--model", "linear", "--device", "cpu", "--n-train", "100", "--n-test", "0",
                                 "--no-progress", "--out", out])
    assert code == 0 and seen == [True, True]  # the main run's evaluation and the control's
    assert not _lock_is_held(out)  # released at the end


# -------------------------------------------------------------------------------------------------
# 3. unsafe advice: an unreadable checkpoint on --resume
# -------------------------------------------------------------------------------------------------
def _evil_pickle(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"model": Payload()}, protocol=2)


def _other_model(good: bytes, path: Path) -> bytes:
    state = torch.load(path, weights_only=True)
    state["model"]["W"] = torch.zeros(3, 3, dtype=torch.float64)
    torch.save(state, path)
    return path.read_bytes()


@pytest.mark.parametrize("make, reason", [
    (lambda good, marker, path: good[: len(good) // 2], "not a complete PyTorch checkpoint"),
    (lambda good, marker, path: b"", "the file is empty"),
    (lambda good, marker, path: _evil_pickle(marker), "could run code when loaded (refused)"),
    (lambda good, marker, path: _other_model(good, path), "it holds another model: W has shape [3, 3]"),
])
def test_resume_with_an_unreadable_checkpoint_is_one_line_without_torchs_advice(tmp_path, make, reason):
    """Issue 16, 3: a 20-35-line torch traceback, exit 1, advising weights_only=False."""
    out = tmp_path / "run"
    assert verify.run_verification(out=out, stop_after=1, **LINEAR) is None
    path, marker = out / "checkpoint.pt", tmp_path / "payload-ran"
    path.write_bytes(make(path.read_bytes(), marker, path))
    code, err = _cli(verify.main, ["--resume", out, "--no-progress"])
    assert code == 2
    _one_line(err, f"cannot read checkpoint {path}: ")
    assert reason in err[0] and not marker.exists() and not (out / "summary.json").exists()


def test_a_training_state_that_is_not_the_kits_is_one_line(tmp_path):
    """A checkpoint torch can load safely but whose counters or generator states are not a training state."""
    out = tmp_path / "run"
    assert verify.run_verification(out=out, stop_after=1, **LINEAR) is None
    path = out / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    for key, value in (("step", "3"), ("noise_rng", torch.zeros(3)), ("phase_index", -1)):
        torch.save(dict(state, **{key: value}), path)
        code, err = _cli(verify.main, ["--resume", out, "--no-progress"])
        assert code == 2
        _one_line(err, f"cannot read checkpoint {path}: ")


# -------------------------------------------------------------------------------------------------
# 4. values that passed validation and then crashed
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--latent-dim", "0"], "--latent-dim"),
    (["--latent-dim", "-3"], "--latent-dim"),
    (["--n-train", "0"], "--n-train"),
    (["--hidden", "0"], "--hidden"),
    (["--hidden", "4,-5"], "--hidden"),
    (["--control-factor", "1e308"], "--control-factor"),
    (["--control-factor", "nan"], "--control-factor"),
    (["--threads", "1000"], "--threads"),
    (["--samples-typo", "1"], "unrecognized arguments"),
    (["--latent-dim", "100000000"], "--latent-dim 100000000 is out of range"),
    (["--latent-dim", "60000"], "--latent-dim 60000 needs about"),
    (["--n-train", "1000000000"], "--n-train 1000000000 needs about"),
    (["--model", "vae3", "--eval-samples", "1000000000"], "--eval-samples"),
])
def test_verify_rejects_each_value_in_one_line_before_anything_is_created(argv, message, tmp_path, monkeypatch):
    """Issue 16, 4: --latent-dim 0 was a ZeroDivisionError, --n-train 0 left config.json behind, --threads
    1000 was killed (exit 137), --control-factor 1e308 trained to a PASS with an infinite variance,
    --latent-dim 1e8 was OOM-killed at 24 GB."""
    _no_run_away(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, err = _cli(verify.main, [*argv, "--device", "cpu", "--out", tmp_path / "out"])
    assert code == 2
    _one_line(err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "0"], "--hidden"),
    (["--hidden", "-5"], "--hidden"),
    (["--model", "linear", "--hidden", "0"], "--hidden"),
    (["--latent-dim", "0"], "--latent-dim"),
    (["--threads", "1000"], "--threads"),
    (["--runs", "1000000", "--n-train", "100000"], "needs about"),
    (["--eval-samples", "1"], "--eval-samples"),
    (["--lr", "inf"], "--lr"),
])
def test_sweep_rejects_each_value_in_one_line_before_anything_is_created(argv, message, tmp_path, monkeypatch):
    """Issue 16, 4: sweep --hidden -5 was a traceback, --hidden 0 with --model linear was silently ignored."""
    _no_run_away(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, err = _cli(sweep.main, [*argv, "--device", "cpu", "--out", tmp_path / "out"])
    assert code == 2
    _one_line(err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("main", [verify.main, sweep.main])
def test_out_at_a_file_or_in_a_read_only_folder_is_one_line(main, tmp_path, monkeypatch):
    """Issue 16, 4: --out at an existing file or a read-only folder was a RunDirError traceback."""
    (tmp_path / "file").write_text("x")
    code, err = _cli(main, ["--model", "linear", "--device", "cpu", "--out", tmp_path / "file"])
    assert code == 2
    _one_line(err, "is not a directory")
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root ignores folder permissions: the OS's refusal is simulated
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(locked / "run"))
        monkeypatch.setattr(os, "makedirs", refuse)
    code, err = _cli(main, ["--model", "linear", "--device", "cpu", "--n-train", "20", "--out", locked / "run"])
    assert code == 2
    _one_line(err, f"cannot create run directory {locked / 'run'}: Permission denied")


@pytest.mark.parametrize("edit, message", [
    (lambda c: "{not json", "config.json: not valid JSON"),
    (lambda c: json.dumps([1, 2]), "config.json: not a JSON object"),
    (lambda c: json.dumps(dict(c, latent_dim="2")), "'latent_dim' must be an integer"),
    (lambda c: json.dumps(dict(c, latent_dim=100_000_000)), "'latent_dim' must be an integer"),
    (lambda c: json.dumps(dict(c, hidden=[0])), "'hidden' must be"),
    (lambda c: json.dumps(dict(c, control_factor=1e308)), "'control_factor' must be"),
    (lambda c: json.dumps(dict(c, threads=1000)), "'threads' must be"),
    (lambda c: json.dumps(dict(c, eval_samples="x")), "'eval_samples' must be"),
    (lambda c: json.dumps(dict(c, protocol_spec={"name": "fast"})), "'protocol_spec'"),
    (lambda c: json.dumps(dict(c, protocol_spec=dict(c["protocol_spec"], phases=[{"kind": "adam", "steps": "9"}]))),
     "'protocol_spec'"),
    (lambda c: json.dumps({k: v for k, v in c.items() if k != "seed"}), "no 'seed'"),
])
def test_resume_with_a_garbage_or_wrong_typed_config_is_one_line(edit, message, tmp_path):
    """Issue 16, 4: a garbage config.json on --resume was a RunDirError traceback, a string latent_dim a
    TypeError traceback."""
    out = tmp_path / "run"
    assert verify.run_verification(out=out, stop_after=1, **LINEAR) is None
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(edit(config))
    before = sorted(p.name for p in out.iterdir())
    code, err = _cli(verify.main, ["--resume", out, "--no-progress"])
    assert code == 2
    _one_line(err, message)
    assert sorted(p.name for p in out.iterdir()) == before


def _tiny_sweep(out: Path) -> list[str]:
    return ["--model", "vae3", "--n-train", "16", "--epochs", "1", "--batch-size", "16", "--hidden", "4",
            "--eval-samples", "2", "--runs", "1", "--device", "cpu", "--no-progress", "--out", out]


@pytest.mark.parametrize("name, text, message", [
    ("summary.json", "garbage", "summary.json: not valid JSON"),
    ("summary.json", json.dumps({"status": 3}), "'status' must be one of"),
    ("config.json", "[]", "config.json: not a JSON object"),
    ("checkpoint.pt", "garbage", "cannot read checkpoint"),
])
def test_a_sweep_over_garbage_member_files_is_one_line(name, text, message, tmp_path):
    """Issue 16, 4: garbage or wrong-typed config.json / summary.json were tracebacks."""
    out = tmp_path / "s"
    assert _cli(sweep.main, _tiny_sweep(out))[0] in (0, 1, 4, 5)
    member = out / "run-seed0000"
    if name == "checkpoint.pt":
        (member / "summary.json").unlink()   # unfinished: its checkpoint is read to resume it
    (member / name).write_text(text)
    code, err = _cli(sweep.main, _tiny_sweep(out))
    assert code == 2
    _one_line(err, message)


@pytest.mark.parametrize("argv, message", [
    (["--nodes", "-2"], "--nodes"),
    (["--nodes", "0"], "--nodes"),
    (["--samples", "-5"], "--samples"),
    (["--samples", "0"], "--samples"),
    (["--seed", "-1"], "--seed"),
    (["--nodes", "128"], "--nodes 128 needs about"),
    (["--samples", "100000000"], "--samples 100000000 needs about"),
])
def test_projection_rejects_bad_sizes_in_one_line(argv, message, tmp_path):
    """Issue 16, 4: projection --nodes -2 and --samples -5 were tracebacks, --nodes 0 silently meant 16."""
    out = tmp_path / "run"
    verify.run_verification(model="vae3", data="ring", device="cpu", n_train=60, n_test=0, steps=1, warmup_steps=1,
                            hidden=(4,), eval_samples=2, control=False, out=out, progress=False, latent_dim=5)
    code, err = _cli(projection.main, [out, *argv])
    assert code == 2
    _one_line(err, message)


@pytest.mark.parametrize("shape, message", [((5, 0, 4), "each needs at least one pixel"),
                                            ((0, 4, 4), "holds no images")])
def test_zero_width_idx_images_are_one_line_and_create_nothing(shape, message, tmp_path):
    """Issue 16, 4: zero-width IDX images crashed in a reshape."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", np.zeros(shape))
    code, err = _cli(verify.main, [*TINY_VAE1, "--data-dir", folder, "--out", tmp_path / "run"])
    assert code == 2
    _one_line(err, message)
    assert not (tmp_path / "run").exists()


# -------------------------------------------------------------------------------------------------
# 5. a rejected command must not block its correction
# -------------------------------------------------------------------------------------------------
def test_a_rejected_command_does_not_block_its_correction(tmp_path):
    """Issue 16, 5: after `--data-dir /typo` (exit 2) the corrected command said "already holds a run"."""
    out = tmp_path / "run"
    code, err = _cli(verify.main, [*TINY_VAE1, "--n-train", "20", "--data-dir", tmp_path / "typo", "--out", out])
    assert code == 2
    _one_line(err, "does not exist")
    assert not out.exists()
    folder = idx_dir(tmp_path / "mnist")
    code, err = _cli(verify.main, [*TINY_VAE1, "--n-train", "20", "--data-dir", folder, "--out", out])
    assert code in (0, 1, 5) and (out / "summary.json").is_file(), err


# -------------------------------------------------------------------------------------------------
# 6. changed data are detected; a relative --data-dir resumes from anywhere
# -------------------------------------------------------------------------------------------------
def _vae1_run(out: Path, data_dir, **kw) -> None:
    assert verify.run_verification(model="vae1", data="mnist", data_dir=data_dir, device="cpu", n_test=0,
                                   steps=1, warmup_steps=1, hidden=(4,), eval_samples=2, control=False,
                                   out=out, progress=False, stop_after=1, **kw) is None


def test_changed_idx_files_stop_a_resume(tmp_path):
    """Issue 16, 6: replaced images on --resume silently changed n_train from 100 to 60 and overwrote
    summary.json."""
    folder = idx_dir(tmp_path / "mnist", n=100)
    out = tmp_path / "run"
    _vae1_run(out, folder)
    config = json.loads((out / "config.json").read_text())
    names = [f["name"] for f in config["data_fingerprint"]["files"]]
    assert names == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    idx_dir(folder, n=60, seed=1)
    code, err = _cli(verify.main, ["--resume", out, "--no-progress"])
    assert code == 2
    _one_line(err, "train-images-idx3-ubyte changed since the run was created")
    assert not (out / "summary.json").exists()


def test_a_relative_data_dir_resumes_from_another_folder(tmp_path, monkeypatch):
    """Issue 16, 6: a relative --data-dir was stored as given, so resuming from another folder failed."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    idx_dir(tmp_path / "a" / "mnist")
    monkeypatch.chdir(tmp_path / "a")
    _vae1_run(tmp_path / "run", "mnist", n_train=20)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data_dir"] == str(tmp_path / "a" / "mnist")
    monkeypatch.chdir(tmp_path / "b")
    code, err = _cli(verify.main, ["--resume", tmp_path / "run", "--no-progress"])
    assert code in (0, 1, 5) and (tmp_path / "run" / "summary.json").is_file(), err


# -------------------------------------------------------------------------------------------------
# Ctrl-C, divergence, one --hidden syntax, threads
# -------------------------------------------------------------------------------------------------
def test_ctrl_c_in_verify_is_one_line_with_the_resume_command(tmp_path, monkeypatch):
    from numerics.training import Trainer

    def interrupted(self, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "run", interrupted)
    out = tmp_path / "run"
    code, err = _cli(verify.main, ["--model", "linear", "--device", "cpu", "--out", out])
    assert code == 130
    _one_line(err, f"interrupted; resume with: python -m numerics.verify --resume {out}")


def test_ctrl_c_in_a_sweep_is_one_line_with_the_command_that_resumes(tmp_path, monkeypatch):
    from numerics.batched import BatchedTrainer

    def interrupted(self, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(BatchedTrainer, "run", interrupted)
    code, err = _cli(sweep.main, _tiny_sweep(tmp_path / "s"))
    assert code == 130
    _one_line(err, "interrupted; resume with: python -m numerics.sweep --model vae3")
    assert f"--out {tmp_path / 's'}" in err[0]


def test_a_sweep_with_diverged_members_exits_3_like_verify(tmp_path):
    """verify exits 3 on divergence; a sweep reported its diverged members as FAIL (1)."""
    argv = [*_tiny_sweep(tmp_path / "s"), "--epochs", "3", "--lr", "1e30", "--dtype", "float32"]
    code, err = _cli(sweep.main, argv)
    assert code == 3
    _one_line(err, "training diverged")


def test_hidden_has_one_syntax_in_verify_and_sweep(tmp_path):
    parse = lambda argv: sweep._options(sweep._parser().parse_args(argv))  # noqa: E731
    assert parse(["--hidden", "8,4"])["hidden"] == [8, 4]
    assert parse(["--hidden", "none"])["hidden"] == []
    assert verify.build_parser().parse_args(["--hidden", "8,4"]).hidden == (8, 4)
    code, err = _cli(sweep.main, ["--hidden", "8", "4", "--out", tmp_path / "s"])
    assert code == 2 and len(err) == 1 and not (tmp_path / "s").exists()


@pytest.mark.parametrize("main, argv, stop", [
    (verify.main, ["--model", "linear", "--device", "cpu"], ("numerics.training", "Trainer")),
    (sweep.main, ["--model", "linear", "--device", "cpu", "--runs", "1", "--n-train", "10"],
     ("numerics.batched", "BatchedTrainer")),
])
def test_threads_default_to_one_in_every_training_cli(main, argv, stop, tmp_path, monkeypatch):
    import importlib

    threads = []

    class Stop(Exception):
        pass

    def run(self, **kwargs):
        threads.append(torch.get_num_threads())
        raise Stop

    monkeypatch.setattr(getattr(importlib.import_module(stop[0]), stop[1]), "run", run)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(Stop):
            main([*argv, "--out", str(tmp_path / "out")])
    finally:
        torch.set_num_threads(before)
    assert threads == [1]


def test_projection_takes_device_and_threads(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert verify.run_verification(out=out, **LINEAR)["status"] == "PASS"
    seen = []
    real = projection.project_variances

    def spy(model, x, design, **kw):
        seen.append((next(model.parameters()).device.type, x.device.type, torch.get_num_threads()))
        return real(model, x, design, **kw)

    monkeypatch.setattr(projection, "project_variances", spy)
    assert _cli(projection.main, [out, "--device", "cpu", "--json"])[0] == 0
    assert seen == [("cpu", "cpu", 1)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = _cli(projection.main, [out, "--device", "cuda"])
    assert code == 2
    _one_line(err, "no CUDA device")


def test_the_report_reads_metrics_with_the_kits_one_reader(tmp_path):
    """reports.rundirs read metrics.jsonl its own way: superseded rows counted, a bad line's neighbours kept
    where numerics dropped them."""
    from numerics.metrics_log import read_metrics_log
    from reports.rundirs import read_metrics

    run = RunDir(tmp_path)
    for step in range(5):
        run.append_metrics({"step": step, "elbo": float(step)})
    run.rewind_metrics(2)
    for step in range(3, 5):
        run.append_metrics({"step": step, "elbo": 10.0 + step})
    with open(tmp_path / "metrics.jsonl", "ab") as handle:
        handle.write(b"[1, 2]\n{\"no step\": 1}\n{\"step\": 5, \"elbo\": 1")
    assert read_metrics(tmp_path / "metrics.jsonl") == read_metrics_log(tmp_path / "metrics.jsonl").rows
    assert [r["elbo"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [0.0, 1.0, 2.0, 13.0, 14.0]

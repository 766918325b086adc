"""Property-based fuzz test of the CLIs' argument handling and of garbage run-directory files (issue 16, 4).

For random option values (valid, boundary, huge, negative, non-finite, not a number, control
characters) of `numerics.verify`, `numerics.sweep`, `numerics.projection`, `numerics.stream`,
`reports.build`, `proofs.check` and the benchmark scripts, and for run directories whose config.json,
summary.json, metrics.jsonl, checkpoint.pt or data.npz were replaced by garbage, every call must:

* end with a documented exit code (2 for bad input), or reach the point where real work would start
  (training, proofs, figures: replaced here by `Reached`, so nothing heavy runs);
* print at most one line on stderr and never a traceback (any other exception fails the test);
* write nothing outside its run directory: each example runs in a fresh folder as the working
  directory; only the run directory (--out, --resume, or the default under runs/) may change, and a
  run directory that is only read (projection, reports) must not change at all.

The machine's memory is taken to be 2 GB during the test (`numerics.limits.machine_memory`), so any
size the memory estimate lets through is cheap to set up. The hypothesis settings are fixed
(`FUZZ`: derandomized, no deadline, no example database), so CI sees the same examples every time.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
MEMORY = 2 << 30
"""The machine memory the CLIs see during the test: accepted sizes stay cheap."""


def fuzz(examples: int):
    """The fixed hypothesis profile of this file: reproducible in CI, examples chosen for a < 60 s total."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


class Reached(Exception):
    """Raised where a CLI would start real work: everything before it was validated."""


def _stop(*args, **kwargs):
    raise Reached


def _load_bench(name: str):
    spec = importlib.util.spec_from_file_location(f"fuzz_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -------------------------------------------------------------------------------------------------
# values
# -------------------------------------------------------------------------------------------------
GARBAGE_TEXT = st.sampled_from(["", " ", "x", "-", "--", "nan", "inf", "-inf", "1e308", "-1e308", "0x10", "1,,2",
                                "none", "None", "1.5", "1e3", "abc\ndef", "é", "\x00", "3/2", "../..", "/dev/null",
                                "-1", "0", "2", "8", "1e-400", "99999999999999999999"])
INTS = st.one_of(st.sampled_from([10 ** 9, 10 ** 12, 2 ** 63, -(10 ** 9), 100_000, 65_537]), st.integers(-3, 12))
NUMBERS = st.one_of(INTS.map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr), GARBAGE_TEXT)
HIDDEN = st.one_of(st.lists(st.integers(-2, 6), min_size=0, max_size=3).map(lambda v: ",".join(map(str, v))),
                   st.sampled_from(["none", "50,50", "1000000,1000000", "4,,4", "4 4"]), GARBAGE_TEXT)


SMALL = st.sampled_from(["1", "2", "3", "16"])
VALID = {"--n-train": st.sampled_from(["16", "40"]), "--runs": st.sampled_from(["1", "2"]),
         "--out": st.just("out"), "--model": st.sampled_from(["linear", "vae3"]), "--device": st.just("cpu"), "--n-test": st.sampled_from(["0", "5"]),
         "--latent-dim": st.sampled_from(["1", "2", "3"]), "--hidden": st.sampled_from(["4", "4,4", "none"]),
         "--seed": SMALL, "--steps": st.sampled_from(["0", "1"]), "--warmup-steps": st.sampled_from(["0", "1"]),
         "--eval-samples": st.sampled_from(["2", "8"]), "--control-factor": st.sampled_from(["4", "0.25"]),
         "--threads": st.just("1"), "--epochs": SMALL, "--batch-size": SMALL, "--lr": st.sampled_from(["0.01", "1e-3"]),
         "--samples": SMALL, "--rel-tol": st.sampled_from(["0.005", "1"]), "--seed0": SMALL,
         "--points-per-segment": st.sampled_from(["20", "100"]), "--true-dims": st.sampled_from(["2", "1,2"]),
         "--model-dims": st.sampled_from(["2", "1,3"]), "--nodes": st.sampled_from(["2", "4"])}
"""Valid values: in most examples every option but one has one, so that the one bad value is what the
CLI has to catch (a careless user's typo), not the parser's first complaint."""


def _argv(options: dict[str, st.SearchStrategy], flags: tuple[str, ...] = (),
          required: tuple[str, ...] = ()) -> st.SearchStrategy[list[str]]:
    """A random subset of `options` (always `required`): one of them fuzzed, the others valid where a
    valid value is known (or all fuzzed, one example in four); random `flags`; sometimes an unknown token."""
    names = sorted(options)

    @st.composite
    def build(draw) -> list[str]:
        chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=min(5, len(names))))
        chosen += [name for name in required if name not in chosen]
        bad = draw(st.sampled_from(chosen)) if chosen else None
        all_fuzzed = draw(st.integers(0, 3)) == 0
        argv: list[str] = []
        for name in chosen:
            fuzzed = all_fuzzed or name == bad or name not in VALID
            argv += [name, draw(options[name] if fuzzed else VALID[name])]
        argv += draw(st.lists(st.sampled_from(flags), unique=True, max_size=2)) if flags else []
        if draw(st.integers(0, 9)) == 0:
            argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--bogus", "stray", "-x", "--"])))
        return argv

    return build()


# -------------------------------------------------------------------------------------------------
# the harness
# -------------------------------------------------------------------------------------------------
def _tree(folder: Path) -> dict[str, str]:
    """Relative path -> content hash of every file and link below `folder` (links not followed)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink() or not path.is_file():
                found[rel] = "link or special"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class Sandbox:
    """A fresh working directory for one example, with what must not change around it."""

    def __init__(self, base: Path) -> None:
        self.root = Path(tempfile.mkdtemp(dir=base))
        self.cwd = self.root / "cwd"
        self.cwd.mkdir()
        (self.root / "outside").mkdir()
        (self.root / "outside" / "keep.txt").write_text("unchanged")

    def run(self, main, argv: list[str], *, codes: set[int], writable: tuple[str, ...] = (),
            out_options: tuple[str, ...] = (), long_codes: set[int] = frozenset()) -> tuple[object, str]:
        """Call main(argv) in this sandbox; the exit code (or Reached) and stderr, after the checks of the
        module docstring. `writable`: folders below the working directory that may change; the value
        of the last of `out_options` in argv (the run directory the user named) may change too.
        `long_codes`: exit codes whose documented output on stderr is longer than a line (a report's
        list of failures); bad input (2) is always one line."""
        named = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] in out_options]
        if named:
            target = Path(os.path.normpath(self.cwd / named[-1]))
            if target.is_relative_to(self.root) and target != self.root:
                writable = writable + (os.path.relpath(target, self.cwd),)
        before = _tree(self.root)
        err, out = io.StringIO(), io.StringIO()
        old = os.getcwd()
        os.chdir(self.cwd)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    result: object = main(list(argv))
                except SystemExit as exit_:
                    result = exit_.code if isinstance(exit_.code, int) else 2
                except Reached:
                    result = Reached
        finally:
            os.chdir(old)
        text = err.getvalue()
        lines = text.splitlines()
        assert "Traceback" not in text, (argv, text)
        assert len(lines) <= 1 or result not in (2, Reached) and result in long_codes, (argv, text)
        assert result is Reached or result in codes, (argv, result, text)
        after = _tree(self.root)
        prefixes = tuple(os.path.normpath(f"cwd/{w}") + "/" for w in writable)
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        outside = sorted(k for k in changed if not (prefixes and k.startswith(prefixes)))
        assert not outside, (argv, outside, text)
        return result, text

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(autouse=True)
def small_machine():
    """A 2 GB machine; torch's thread count restored after each test (the CLIs set it)."""
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        from numerics import limits

        mp.setattr(limits, "machine_memory", lambda: MEMORY)
        yield mp
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Run directories to corrupt: a killed tiny linear run, a finished one with its control, a finished
    tiny sweep of one member."""
    from numerics import sweep
    from numerics.verify import run_verification

    root = tmp_path_factory.mktemp("templates")
    opts = dict(model="linear", data="ppca", device="cpu", n_train=40, n_test=10, progress=False)
    run_verification(out=root / "killed", stop_after=1, control=False, **opts)
    run_verification(out=root / "finished", **opts)
    with contextlib.redirect_stdout(io.StringIO()):
        assert sweep.main(["--model", "vae3", "--n-train", "16", "--epochs", "1", "--batch-size", "16", "--hidden", "4",
                           "--eval-samples", "2", "--runs", "1", "--device", "cpu", "--no-progress",
                           "--out", str(root / "sweep")]) in (0, 1, 5)
    return root


# -------------------------------------------------------------------------------------------------
# garbage files
# -------------------------------------------------------------------------------------------------
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12),
                                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=6)


@st.composite
def garbage(draw, original: bytes, name: str) -> bytes:
    """Garbage for the file `name` whose good content is `original`."""
    kind = draw(st.sampled_from(["bytes", "truncated", "json", "key", "empty"] + (["state"] if name.endswith(".pt") else [])))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "truncated":
        return original[: draw(st.integers(0, max(0, len(original) - 1)))]
    if kind == "empty":
        return b""
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "state":
        state = torch.load(io.BytesIO(original), weights_only=True)
        key = draw(st.sampled_from(sorted(state)))
        state[key] = draw(st.one_of(JSON_VALUES, st.sampled_from([torch.zeros(3), torch.zeros(5056, dtype=torch.uint8),
                                                                  torch.full((2,), float("nan"))])))
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()
    try:  # "key": one key of a JSON object replaced (a file that is not JSON gets random JSON)
        value = json.loads(original)
    except ValueError:
        return json.dumps(draw(JSON_VALUES)).encode()
    if isinstance(value, dict) and value:
        value[draw(st.sampled_from(sorted(value)))] = draw(JSON_VALUES)
    return json.dumps(value).encode()


RUN_FILES = ["config.json", "summary.json", "metrics.jsonl", "checkpoint.pt", "data.npz", "control/config.json",
             "control/summary.json", "control/checkpoint.pt"]


def _corrupt(data, source: Path, target: Path, files: list[str], *, text_only: bool = False) -> None:
    """Copy the run `source` to `target` and replace one of `files` there by garbage (`text_only`: JSON
    and text files get UTF-8 garbage only)."""
    shutil.copytree(source, target)
    name = data.draw(st.sampled_from([f for f in files if (source / f).exists()]), label="file")
    path = target / name
    content = data.draw(garbage(path.read_bytes(), name), label="content")
    if text_only and not name.endswith((".pt", ".npz")):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            content = content.decode("utf-8", errors="replace").encode()
    path.write_bytes(content)


# -------------------------------------------------------------------------------------------------
# numerics.verify
# -------------------------------------------------------------------------------------------------
VERIFY_OPTIONS = {
    "--model": st.sampled_from(["linear", "vae1", "vae2", "vae3", "vae9", ""]),
    "--protocol": st.sampled_from(["fast", "paper", "slow"]),
    "--data": st.sampled_from(["ppca", "ring", "mnist", "cifar"]),
    "--data-dir": st.sampled_from(["/nonexistent", "..", "/dev/null", "mnist"]),
    "--n-train": NUMBERS, "--n-test": NUMBERS, "--latent-dim": NUMBERS, "--hidden": HIDDEN, "--seed": NUMBERS,
    "--steps": NUMBERS, "--warmup-steps": NUMBERS, "--eval-samples": NUMBERS, "--control-factor": NUMBERS,
    "--threads": NUMBERS, "--device": st.sampled_from(["cpu", "cuda", "auto", "tpu"]),
    "--dtype": st.sampled_from(["float64", "float32", "float16"]),
    "--enc-link": st.sampled_from(["exp", "softplus", "relu"]), "--dec-link": st.sampled_from(["exp", "square", "x"]),
    "--out": st.sampled_from(["out", "out/deeper", "out/../out", "/dev/null/x", "../outside"]),
}


def _stop_training(mp) -> None:
    """Trainer.run: restore the checkpoint (the run's files are validated there), then stop."""
    from numerics.training import Trainer

    def run(self, **kwargs):
        self.restore()
        raise Reached

    mp.setattr(Trainer, "run", run)


@fuzz(150)
@given(argv=_argv(VERIFY_OPTIONS, ("--no-control", "--json", "--no-progress")))
def test_verify_options(argv, base, small_machine):
    from numerics import verify

    _stop_training(small_machine)
    small_machine.setattr(torch.cuda, "is_available", lambda: False)
    box = Sandbox(base)
    try:
        box.run(verify.main, argv, codes={2}, writable=("runs",), out_options=("--out", "--resume"))
    finally:
        box.close()


@fuzz(120)
@given(data=st.data())
def test_verify_resume_over_garbage_files(data, base, templates, small_machine):
    from numerics import verify

    _stop_training(small_machine)
    box = Sandbox(base)
    try:
        source = templates / data.draw(st.sampled_from(["killed", "finished"]), label="run")
        _corrupt(data, source, box.cwd / "out", RUN_FILES)
        box.run(verify.main, ["--resume", "out", "--no-progress"], codes={2}, writable=("out",))
    finally:
        box.close()


# -------------------------------------------------------------------------------------------------
# numerics.sweep
# -------------------------------------------------------------------------------------------------
SWEEP_OPTIONS = {
    "--model": st.sampled_from(["linear", "vae1", "vae3", "vae9"]), "--data": st.sampled_from(["ppca", "ring", "x"]),
    "--runs": st.sampled_from(["1", "2", "0", "-1", "x", "1000000", "99999999999"]), "--seed0": NUMBERS,
    "--shard": st.sampled_from(["0/1", "1/2", "2/2", "x", "-1/3", "0/0"]),
    "--protocol": st.sampled_from(["fast", "paper", "slow"]), "--epochs": NUMBERS, "--batch-size": NUMBERS,
    "--lr": NUMBERS, "--samples": NUMBERS, "--dtype": st.sampled_from(["float32", "float64", "int8"]),
    "--eval-samples": NUMBERS, "--threads": NUMBERS, "--rel-tol": NUMBERS,
    "--n-train": st.sampled_from(["16", "0", "-5", "x", "1000000000"]), "--latent-dim": NUMBERS, "--hidden": HIDDEN,
    "--enc-link": st.sampled_from(["exp", "nope"]), "--device": st.sampled_from(["cpu", "cuda", "tpu"]),
    "--out": st.sampled_from(["out", "out/s", "/dev/null/x"]), "--aggregate": st.sampled_from(["out", "/nonexistent"]),
}


@fuzz(80)
@given(argv=_argv(SWEEP_OPTIONS, ("--json", "--no-progress"), required=("--n-train", "--runs")))
def test_sweep_options(argv, base, small_machine):
    from numerics import batched, sweep

    small_machine.setattr(batched.BatchedTrainer, "run", _stop)
    small_machine.setattr(torch.cuda, "is_available", lambda: False)
    box = Sandbox(base)
    try:
        box.run(sweep.main, argv, codes={0, 1, 2, 3, 4, 5}, writable=("runs",), out_options=("--out",))
    finally:
        box.close()


@fuzz(60)
@given(data=st.data())
def test_sweep_over_garbage_member_files(data, base, templates, small_machine):
    from numerics import batched, sweep

    small_machine.setattr(batched.BatchedTrainer, "run", _stop)
    box = Sandbox(base)
    try:
        _corrupt(data, templates / "sweep", box.cwd / "out", [f"run-seed0000/{f}" for f in RUN_FILES[:5]])
        if data.draw(st.booleans(), label="unfinished"):  # its checkpoint is then read to resume it
            (box.cwd / "out" / "run-seed0000" / "summary.json").unlink(missing_ok=True)
        argv = ["--model", "vae3", "--n-train", "16", "--epochs", "1", "--batch-size", "16", "--hidden", "4",
                "--eval-samples", "2", "--runs", "1", "--device", "cpu", "--no-progress", "--out", "out"]
        if data.draw(st.booleans(), label="aggregate only"):
            argv = ["--aggregate", "out", "--out", "agg"]
        box.run(sweep.main, argv, codes={0, 1, 2, 3, 4, 5}, writable=("out", "agg"))
    finally:
        box.close()


# -------------------------------------------------------------------------------------------------
# numerics.projection: reads a run, writes nothing
# -------------------------------------------------------------------------------------------------
PROJECTION_OPTIONS = {"--nodes": NUMBERS, "--samples": NUMBERS, "--seed": NUMBERS, "--threads": NUMBERS,
                      "--device": st.sampled_from(["cpu", "cuda", "gpu"])}


@fuzz(100)
@given(data=st.data())
def test_projection_over_options_and_garbage_files(data, base, templates, small_machine):
    from numerics import projection

    small_machine.setattr(torch.cuda, "is_available", lambda: False)
    _run_reading_cli(data, base, templates, projection.main, PROJECTION_OPTIONS, ("--json",), codes={0, 1, 2})


def _run_reading_cli(data, base: Path, templates: Path, main, options: dict, flags: tuple[str, ...], *,
                     codes: set[int]) -> None:
    """`main(["run", options...])` in a fresh sandbox, for a CLI that only reads the run directory "run":
    a finished run, or one with a garbage file (drawn from `data`)."""
    box = Sandbox(base)
    try:
        if data.draw(st.booleans(), label="garbage"):
            _corrupt(data, templates / "finished", box.cwd / "run", RUN_FILES)
        else:
            shutil.copytree(templates / "finished", box.cwd / "run")
        argv = ["run", *data.draw(_argv(options, flags), label="argv")]
        box.run(main, argv, codes=codes)
    finally:
        box.close()


def _run_writing_cli(main, argv: list[str], base: Path) -> None:
    """`main(argv)` in a fresh sandbox, for a CLI that writes only into the folder its --out names
    (bad input: exit 2; real work is stopped where it would start)."""
    box = Sandbox(base)
    try:
        box.run(main, argv, codes={2}, out_options=("--out",))
    finally:
        box.close()


# -------------------------------------------------------------------------------------------------
# numerics.diagnose: reads a run, writes nothing
# -------------------------------------------------------------------------------------------------
DIAGNOSE_OPTIONS = {"--samples": NUMBERS, "--seed": NUMBERS}


@fuzz(60)
@given(data=st.data())
def test_diagnose_over_options_and_garbage_files(data, base, templates, small_machine):
    from numerics import diagnosis

    def diagnose(model, x, *, samples=None, **kwargs):
        assert (samples or 1) * x.shape[0] * (model.H + 1) * 8 <= MEMORY, samples  # the design fits
        raise Reached

    small_machine.setattr(diagnosis, "diagnose", diagnose)
    _run_reading_cli(data, base, templates, diagnosis.main, DIAGNOSE_OPTIONS, ("--json", "--test"), codes={0, 2})


# -------------------------------------------------------------------------------------------------
# numerics.criterion: writes into --out
# -------------------------------------------------------------------------------------------------
CRITERION_OPTIONS = {"--out": st.sampled_from(["out", "/dev/null/x", "out/s"]), "--n-train": NUMBERS,
                     "--seed": NUMBERS, "--links": st.one_of(st.sampled_from(["exp", "exp,softplus-std", "nope"]),
                                                             GARBAGE_TEXT)}


@fuzz(40)
@given(argv=_argv(CRITERION_OPTIONS, ("--json",), required=("--out",)))
def test_criterion_options(argv, base, small_machine):
    from numerics import criterion

    small_machine.setattr(criterion, "stationary_gap", _stop)
    _run_writing_cli(criterion.main, argv, base)


# -------------------------------------------------------------------------------------------------
# numerics.stream (its owner's CLI; its arguments are fuzzed here)
# -------------------------------------------------------------------------------------------------
STREAM_OPTIONS = {"--out": st.sampled_from(["out", "/dev/null/x", "out/s"]), "--points-per-segment": NUMBERS,
                  "--true-dims": HIDDEN, "--model-dims": HIDDEN, "--batch-size": NUMBERS, "--lr": NUMBERS,
                  "--samples": NUMBERS, "--seed": NUMBERS}


@fuzz(60)
@given(argv=_argv(STREAM_OPTIONS, ("--json", "--no-progress"), required=("--out",)))
def test_stream_options(argv, base, small_machine):
    from numerics import stream

    small_machine.setattr(stream, "run_stream", _stop)
    _run_writing_cli(stream.main, argv, base)


def test_stream_refuses_sizes_beyond_the_machine(base, small_machine):
    from numerics import stream

    def run_stream(spec, **kwargs):
        assert spec.points_per_segment * len(spec.true_dims) * spec.data_dim * 8 <= MEMORY, spec
        raise Reached

    small_machine.setattr(stream, "run_stream", run_stream)
    box = Sandbox(base)
    try:
        box.run(stream.main, ["--points-per-segment", "1000000000", "--out", "out"], codes={2}, out_options=("--out",))
    finally:
        box.close()


# -------------------------------------------------------------------------------------------------
# reports.build and proofs.check (their owners' CLIs; fuzzed up to where work starts)
# -------------------------------------------------------------------------------------------------
REPORT_OPTIONS = {"--out": st.sampled_from(["report", "/dev/null/x"]),
                  "--profile": st.sampled_from(["quick", "full", "nope", ""]),
                  "--runs": st.sampled_from(["runs", "/nonexistent", "."]),
                  "--proofs": st.sampled_from(["proofs.json", "/nonexistent", "runs"]),
                  "--device": st.sampled_from(["cpu", "cuda", "tpu"]), "--paper-runs": NUMBERS,
                  "--paper-epochs": NUMBERS}


@fuzz(50)
@given(argv=_argv(REPORT_OPTIONS, ("--rerun", "--json")))
def test_reports_build_options(argv, base, small_machine):
    import reports.build

    small_machine.setattr(reports.build, "build", _stop)
    box = Sandbox(base)
    try:
        (box.cwd / "runs").mkdir()
        (box.cwd / "proofs.json").write_text('{"claims": []}')
        box.run(reports.build.main, argv, codes={0, 1, 2}, writable=("report",), out_options=("--out",))
    finally:
        box.close()


@fuzz(12)
@given(data=st.data())
def test_reports_build_over_garbage_run_files(data, base, templates, small_machine):
    """`reports.build --runs DIR` reads run directories from anywhere: garbage in them is one line (exit 2)
    or a report that fails (exit 1), and the runs are not changed. Figures are computed but not rendered
    (savefig writes an empty file), the PDF is not made."""
    import matplotlib.figure

    import reports.build

    small_machine.setattr(matplotlib.figure.Figure, "savefig", lambda self, path, *a, **k: open(path, "wb").close())
    small_machine.setattr(reports.build, "render_pdf", lambda *a, **k: None)
    box = Sandbox(base)
    try:
        _corrupt(data, templates / "finished", box.cwd / "runs" / "linear", RUN_FILES, text_only=True)  # see below
        (box.cwd / "proofs.json").write_text('{"claims": []}')
        box.run(reports.build.main, ["--runs", "runs", "--proofs", "proofs.json", "--out", "report"], codes={1, 2},
                writable=("report",), long_codes={1})
    finally:
        box.close()


def test_reports_build_reads_a_config_that_is_not_utf8_in_one_line(base, templates, small_machine):
    import reports.build

    box = Sandbox(base)
    try:
        shutil.copytree(templates / "finished", box.cwd / "runs" / "linear")
        (box.cwd / "runs" / "linear" / "config.json").write_bytes(b"\x80")
        (box.cwd / "proofs.json").write_text('{"claims": []}')
        box.run(reports.build.main, ["--runs", "runs", "--proofs", "proofs.json", "--out", "report"], codes={2},
                writable=("report",))
    finally:
        box.close()


@fuzz(40)
@given(argv=st.lists(st.one_of(st.sampled_from(["all", "cor1", "prop1", "prop2", "prop3", "corA1", "--json", "--list",
                                                "-v", "--bogus", "nope"]),
                               GARBAGE_TEXT), max_size=4))
def test_proofs_check_options(argv, base, small_machine):
    import proofs.check

    small_machine.setattr(proofs.check, "check_claims", _stop)
    box = Sandbox(base)
    try:
        box.run(proofs.check.main, argv, codes={0, 1, 2})
    finally:
        box.close()


def test_proofs_check_unknown_name_with_a_newline_is_one_line(base, small_machine):
    import proofs.check

    small_machine.setattr(proofs.check, "check_claims", _stop)
    box = Sandbox(base)
    try:
        box.run(proofs.check.main, ["abc\ndef"], codes={2})
    finally:
        box.close()


# -------------------------------------------------------------------------------------------------
# the benchmark scripts' parsers
# -------------------------------------------------------------------------------------------------
BENCHMARKS = {
    "polish_study": ({"--model": st.sampled_from(["vae1", "vae3", "linear"]), "--seconds": NUMBERS,
                      "--designs": st.sampled_from(["gh:3", "rqmc:8", "gh:0", "mc:x", "gh:1000000", "x"]),
                      "--history": NUMBERS, "--hidden": HIDDEN, "--n-train": NUMBERS, "--eval-samples": NUMBERS,
                      "--preconditioners": st.sampled_from(["none", "jacobi:2", "scale:x:2", "jacobi:0"]),
                      "--start": st.sampled_from(["/nonexistent", "."])}, ("Trainer", "polish")),
    "soft_modes": ({"--design-size": NUMBERS, "--power-iters": NUMBERS, "--seed": NUMBERS}, ("soft_modes",)),
    "sweep_bench": ({"--ks": NUMBERS, "--n-train": NUMBERS, "--timing-epochs": NUMBERS, "--target": NUMBERS,
                     "--cap": NUMBERS, "--eval-samples": NUMBERS, "--headline-runs": NUMBERS, "--threads": NUMBERS,
                     "--dtype": st.sampled_from(["float32", "x"]), "--gpu-peak-tflops": NUMBERS}, ("_spawn",)),
    "verify_targets": ({"--models": st.sampled_from(["linear", "vae9", "linear,vae3", ""]), "--seeds": NUMBERS,
                        "--paper-epochs": NUMBERS, "--threads": NUMBERS, "--device": st.sampled_from(["cpu", "tpu"])},
                       ("one", "run_verification")),
    "link_study": ({"--part": st.sampled_from(["default", "tight", "x"]), "--n-train": NUMBERS, "--steps": NUMBERS,
                    "--eval-samples": NUMBERS, "--newton-steps": NUMBERS}, ("tight", "run_verification")),
}


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_parsers(name, base, templates, small_machine):
    bench = _load_bench(name)
    options, stops = BENCHMARKS[name]
    for attr in stops:
        small_machine.setattr(bench, attr, _stop)

    @fuzz(30)
    @given(argv=_argv(options))
    def check(argv):
        box = Sandbox(base)
        try:
            extra = [str(templates / "finished")] if name == "soft_modes" else ["--out", "out"]
            if name in ("polish_study", "sweep_bench") and "--out" in extra:
                extra = []
            box.run(bench.main, [*argv, *extra], codes={0, 2}, writable=("out",))
        finally:
            box.close()

    check()

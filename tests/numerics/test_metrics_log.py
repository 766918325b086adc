"""metrics.jsonl under any sequence of appends, resumes, cut writes and corrupt lines (hypothesis)."""
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import limits
from numerics.metrics_log import METRICS, METRICS_CUT, parse_metrics
from numerics.rundir import RunDir

OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("append"), st.integers(0, 30)),
    st.tuples(st.just("rewind"), st.integers(-1, 30)),
    st.tuples(st.just("cut"), st.text(alphabet='{}":,0123456789steplbo ', min_size=1, max_size=12)),
    st.tuples(st.just("corrupt"), st.binary(max_size=12).filter(lambda b: b"\n" not in b)),
), max_size=25)


@settings(max_examples=60, deadline=None)
@given(OPERATIONS)
def test_rows_follow_the_appends_and_rewinds_and_only_cut_tails_are_removed(operations):
    """The rows read back are exactly those a reference list of steps holds; every byte written stays in
    metrics.jsonl except the unterminated fragments, which are moved to metrics.jsonl.cut."""
    with tempfile.TemporaryDirectory() as tmp:
        run, path = RunDir(tmp), Path(tmp) / METRICS
        expected: list[int] = []
        fragments: list[bytes] = []
        for kind, arg in operations:
            before = path.read_bytes() if path.exists() else b""
            pending = before[before.rfind(b"\n") + 1:]  # an unterminated tail, set aside by the next write
            if kind == "append":
                run.append_metrics({"step": arg, "elbo": 1.0})
                expected.append(arg)
            elif kind == "rewind":
                run.rewind_metrics(arg)
                expected = [s for s in expected if s <= arg]
            else:
                with open(path, "ab") as handle:  # a write cut by a kill, or a corrupt complete line
                    handle.write(arg.encode() if kind == "cut" else arg + b"\n")
                pending = b""
            after = path.read_bytes() if path.exists() else b""
            if kind in ("append", "rewind") and pending and after != before:
                fragments.append(pending)
                before = before[:len(before) - len(pending)]
            assert after.startswith(before)
            assert [r["step"] for r in run.read_metrics()] == expected
        cut = Path(tmp) / METRICS_CUT
        assert (cut.read_bytes() if cut.exists() else b"") == b"".join(f + b"\n" for f in fragments)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_the_reader_never_raises_and_yields_only_rows(raw):
    log = parse_metrics(raw.splitlines(keepends=True))
    assert all(isinstance(r["step"], int) and r["step"] >= 0 for r in log.rows)
    assert log.partial_tail == (bool(raw) and not raw.endswith(b"\n"))
    json.dumps(log.rows)


VALUES = st.one_of(st.integers(-10 ** 12, 10 ** 12), st.floats(allow_nan=True, allow_infinity=True),
                   st.booleans(), st.text(max_size=5), st.none(), st.lists(st.integers(-5, 10 ** 7), max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(limits.BOUNDS)), VALUES)
def test_any_value_either_passes_or_is_one_line_naming_the_option(option, value):
    try:
        limits.check_bounds({option: value})
    except limits.BoundsError as err:
        assert str(err).startswith(f"{option} ") and "\n" not in str(err) and err.option == option

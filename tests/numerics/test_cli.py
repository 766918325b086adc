"""The CLIs' error path: one line on stderr, a documented exit code, a resume hint on Ctrl-C (issue 16)."""
import pytest

from numerics import cli


class Diverged(RuntimeError):
    pass


ERRORS = {Diverged: cli.EXIT_DIVERGED}


def _body(exc):
    def body() -> int:
        raise exc
    return body


@pytest.mark.parametrize("exc, code, text", [
    (cli.UsageError("--latent-dim 0 is out of range"), cli.EXIT_USAGE, "prog: error: --latent-dim 0 is out of range"),
    (cli.UsageError("first line\n  second line\tthird"), cli.EXIT_USAGE, "prog: error: first line second line third"),
    (Diverged("training diverged at step 3"), cli.EXIT_DIVERGED, "prog: error: training diverged at step 3"),
])
def test_known_errors_are_one_line_and_their_exit_code(capsys, exc, code, text):
    assert cli.run_main("prog", _body(exc), errors=ERRORS) == code
    assert capsys.readouterr().err == text + "\n"


def test_ctrl_c_is_one_line_saying_how_to_resume(capsys):
    hint = "python -m numerics.verify --resume runs/x"
    assert cli.run_main("prog", _body(KeyboardInterrupt()), resume_hint=lambda: hint) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == f"prog: interrupted; resume with: {hint}\n"
    assert cli.run_main("prog", _body(KeyboardInterrupt()), resume_hint=lambda: None) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "prog: interrupted (nothing to resume yet)\n"


def test_a_bug_is_not_disguised_as_bad_input():
    with pytest.raises(ZeroDivisionError):
        cli.run_main("prog", _body(ZeroDivisionError("bug")), errors=ERRORS)


def test_no_exit_code_means_two_things():
    from numerics.verdict import EXIT_CODES

    codes = list(cli.CLI_EXIT_CODES.values()) + list(EXIT_CODES.values())
    assert len(set(codes)) == len(codes)
    assert {cli.EXIT_USAGE, cli.EXIT_DIVERGED, cli.EXIT_INTERRUPTED} == set(cli.CLI_EXIT_CODES.values())


def test_torch_unsafe_advice_never_reaches_a_line():
    text = ("Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` will likely "
            "succeed, but it can result in arbitrary code execution.")
    assert "weights_only" not in cli.one_line(text) and "False" not in cli.one_line(text)

"""numerics.stream: the authors' streaming model-selection experiment (data, bounds, BIC, selection, CLI)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from numerics import stream
from numerics.models import LinearVAE
from numerics.ppca import linear_vae_at_ml, ppca_loglik, ppca_ml
from numerics.stream import StreamSpec, bic, entropy_bound, run_stream, sampled_elbo, stream_data


def test_each_segment_has_its_true_latent_dimension():
    spec = StreamSpec(points_per_segment=4000, true_dims=(6, 2, 4))
    x, labels = stream_data(spec)
    assert x.shape == (12000, 10)
    for k, H in enumerate(spec.true_dims):
        seg = x[k * 4000:(k + 1) * 4000]
        eig = torch.linalg.eigvalsh(torch.cov(seg.T))
        # signal variances are >= 1; the noise floor is 0.1^2
        assert int((eig > 0.1).sum()) == H
        assert bool((labels[k * 4000:(k + 1) * 4000] == H).all())


def test_entropy_bound_is_batch_times_eq33_and_equals_the_loglik_at_the_ml_solution():
    x, _ = stream_data(StreamSpec(points_per_segment=3000, true_dims=(2,)))
    model = linear_vae_at_ml(x, 2)
    ml = ppca_ml(x, 2)
    batch = 10
    exact = batch * float(ppca_loglik(x, ml["W"], ml["mu"], ml["sigma2"]))
    assert float(entropy_bound(model, batch).detach()) == pytest.approx(exact, rel=1e-10)


def test_sampled_elbo_is_unbiased_for_the_batch_sum():
    x, _ = stream_data(StreamSpec(points_per_segment=2000, true_dims=(2,)))
    model = linear_vae_at_ml(x, 2)
    xb = x[:10]
    eps = torch.randn(20000, 10, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ml = ppca_ml(x, 2)
    # at the ML solution the encoder is the exact posterior, so the ELBO is the log-likelihood
    exact = 10 * float(ppca_loglik(xb, ml["W"], ml["mu"], ml["sigma2"]))
    assert float(sampled_elbo(model, xb, eps).detach()) == pytest.approx(exact, abs=0.05)


def test_sampled_elbo_is_listing_1_written_with_torch_distributions():
    """The estimators' path on an MC design is the estimator the authors train with: the mean over
    reparametrised samples of log p(x|z) minus the analytic KL (an independent torch.distributions form)."""
    from torch.distributions import Normal, kl_divergence

    x, _ = stream_data(StreamSpec(points_per_segment=200, true_dims=(4,)))
    model = LinearVAE(10, 4, generator=torch.Generator().manual_seed(3))
    xb, eps = x[:10], torch.randn(100, 10, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    nu, tau2 = model.encode(xb)
    q = Normal(nu, tau2.sqrt())
    mu, sigma2 = model.decode(nu + tau2.sqrt() * eps)
    listing = (Normal(mu, sigma2.sqrt()).log_prob(xb).sum(-1).mean(0)
               - kl_divergence(q, Normal(torch.zeros_like(nu), torch.ones_like(nu))).sum(-1)).sum()
    assert float(sampled_elbo(model, xb, eps).detach()) == pytest.approx(float(listing.detach()), rel=1e-12)


def test_bic_formula():
    assert bic(np.array([-10.0]), 4, 10, 10)[0] == pytest.approx(41 * math.log(10) + 20.0)


def test_entropy_sum_selects_the_true_dimension_with_a_smaller_spread():
    # one segment, a larger learning rate so that 1,000 batches reach the stationary regime
    spec = StreamSpec(points_per_segment=10_000, samples=8, true_dims=(2,), learning_rate=1e-2)
    (row,) = run_stream(spec, progress=False).summary["segments"]
    assert row["true_dim"] == 2
    assert row["selects_true_entropy_settled"] >= 0.99
    assert 3 * row["sd_entropy"] < row["sd_elbo"]


def test_cli_writes_its_outputs(tmp_path):
    rc = stream.main(["--out", str(tmp_path), "--points-per-segment", "200", "--samples", "2",
                      "--no-progress", "--true-dims", "2,4"])
    assert rc == 0
    summary = json.loads((tmp_path / "stream.json").read_text())
    assert len(summary["segments"]) == 2
    assert (tmp_path / "stream.png").stat().st_size > 0
    with np.load(tmp_path / "stream.npz") as arrays:
        assert arrays["bic_entropy"].shape == (3, 40)


def _exit_code(argv: list[str]) -> int:
    try:
        return stream.main(argv)
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code)


@pytest.mark.parametrize("argv", [["--batch-size", "1"], ["--true-dims", "0,2"], ["--true-dims", "x"],
                                  ["--model-dims", "2,40"], ["--lr", "nan"], ["--samples", "0"]])
def test_cli_bad_values_are_one_line_and_exit_2(tmp_path, capsys, argv):
    assert _exit_code(["--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]
    assert not (tmp_path / "o").exists()


def test_cli_writes_nothing_outside_out_and_refuses_a_file_as_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert stream.main(["--out", "out", "--points-per-segment", "100", "--samples", "2", "--no-progress",
                        "--true-dims", "2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert {"stream.json", "stream.npz", "stream.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert _exit_code(["--out", "afile", "--points-per-segment", "100", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]


def test_sizes_beyond_the_machine_name_the_option_and_the_largest_value_that_fits():
    """Found by tests/test_cli_fuzz.py: --points-per-segment 1e9 (3e10 numbers, 240 GB) reached the data
    generation. The check names the option that frees the most and the largest value that fits."""
    budget = 2 << 30
    huge = StreamSpec(points_per_segment=10 ** 9)
    with pytest.raises(stream.limits.BoundsError) as caught:
        stream.check_memory(huge, budget=budget)
    message = str(caught.value)
    assert message.startswith("--points-per-segment 1000000000 needs about ") and "\n" not in message
    largest = int(message.split("allowed: --points-per-segment 10 to ")[1].split()[0])
    stream.check_memory(StreamSpec(points_per_segment=largest), budget=budget)
    with pytest.raises(stream.limits.BoundsError):
        stream.check_memory(StreamSpec(points_per_segment=largest + 1), budget=budget)
    with pytest.raises(stream.limits.BoundsError, match="^--samples 1000000000 needs about .*allowed: --samples 1 to"):
        stream.check_memory(StreamSpec(samples=10 ** 9), budget=budget)
    assert stream.memory_estimate(StreamSpec()).total < 1 << 30  # the authors' experiment: well under 1 GB

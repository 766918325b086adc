"""Figures drawn from arrays (Fig. 3) and the median/IQR statistics over runs (Fig. 1, bottom)."""

from __future__ import annotations

import numpy as np

from reports.figures import LatentState, fig3_latents, quantiles_over_runs
from reports.rundirs import RunRecord


def test_fig3_draws_latents_and_pc_projections(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) @ np.diag([3, 2, 1, 0.5, 0.1])
    state = LatentState(label="linear", nu=rng.normal(size=(200, 2)), tau=np.full((200, 2), 0.2), x=x,
                        x_rec=x + 0.1 * rng.normal(size=x.shape), sigma=0.1)
    figure = fig3_latents([state, state], tmp_path / "fig3.png")
    data = (tmp_path / "fig3.png").read_bytes()
    assert figure is not None and data.startswith(b"\x89PNG") and len(data) > 20_000
    assert "2 tau_1" in figure.caption
    assert fig3_latents([], tmp_path / "none.png") is None


def test_quantiles_over_runs_are_the_median_and_quartiles_of_abs_rel_gap():
    runs = [RunRecord(path=str(k), summary={}, metrics=[{"step": s, "rel_gap": (-1) ** k * (k + 1) * 1e-2}
                                                       for s in range(5)]) for k in range(4)]
    grid, median, q25, q75 = quantiles_over_runs(runs, "rel_gap")
    assert list(grid) == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(median, np.median([0.01, 0.02, 0.03, 0.04]))
    np.testing.assert_allclose(q25, np.percentile([0.01, 0.02, 0.03, 0.04], 25))
    np.testing.assert_allclose(q75, np.percentile([0.01, 0.02, 0.03, 0.04], 75))


def test_predicted_gap_halves_the_prior_residuals():
    from reports.figures import predicted_gap

    assert predicted_gap({"residual_decoder": 1.0, "residual_prior": [0.4, -0.2]}) == 1.1
    assert predicted_gap({"residual_decoder": -0.5}) == -0.5


def test_dependency_layers_put_each_claim_after_what_it_uses():
    from reports.figures import dependency_layers

    graph = {"prop1": [], "prop2": ["prop1"], "cor1": ["prop2"], "prop3": ["prop1", "prop2"], "gap": ["prop1"]}
    assert dependency_layers(graph) == {"prop1": 0, "prop2": 1, "cor1": 2, "prop3": 2, "gap": 1}
    assert dependency_layers({"a": ["b"], "b": ["a"]})  # a cycle (a proofs bug) is drawn, not recursed forever


def test_dependency_graph_is_drawn_from_the_proofs_json(tmp_path):
    from reports.figures import fig_dependency_graph
    from tests.reports.conftest import proofs_result

    figure = fig_dependency_graph(proofs_result(), tmp_path / "graph.png")
    assert figure is not None and (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")
    assert fig_dependency_graph({"claims": []}, tmp_path / "none.png") is None

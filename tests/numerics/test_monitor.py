"""numerics.monitor.Monitor in a plain training loop (JSONL, TensorBoard when it works) and the optional
Lightning callback (skipped without Lightning)."""
import json
import sys

import pytest
import torch

from numerics import estimators
from numerics.monitor import Monitor
from tests.numerics.user_vaes import UserVAE

x_train = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
x_val = torch.randn(100, 6, generator=torch.Generator().manual_seed(1))  # >= 4 x (16 + 1) for the probe


def train(model, steps, monitor, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(2)
    for step in range(steps):
        design = estimators.mc_design(4, 200, 2, generator=gen, dtype=torch.float32)
        loss = -estimators.elbo_objective(model, x_train, design)
        opt.zero_grad()
        loss.backward()
        opt.step()
        monitor(step)


def test_monitor_writes_a_row_every_n_calls_and_tracks_training(tmp_path):
    model = UserVAE()
    log = tmp_path / "sub" / "three.jsonl"
    with Monitor(model, x_val, every=5, log=log) as monitor:
        train(model, 30, monitor)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 5, 10, 15, 20, 25] and rows == monitor.history
    assert {"elbo", "entropy_sum", "gap", "residual_decoder", "residual_prior", "decoder_factor", "kl", "collapsed",
            "covered"} <= set(rows[0])
    assert rows[-1]["elbo"] > rows[0]["elbo"]                      # training improved the bound
    assert all(r["covered"] is True for r in rows)
    assert abs(rows[-1]["gap"]) < abs(rows[0]["gap"])             # and moved towards F = S


def test_the_monitors_design_is_fixed_and_the_model_untouched():
    """Two calls on an unchanged model give the same row (one design for all calls); the training
    model keeps its dtype, mode and parameters."""
    model = UserVAE()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    monitor = Monitor(model, x_val)
    first, second = monitor(), monitor()
    assert {k: v for k, v in first.items() if k not in ("step", "seconds")} == \
           {k: v for k, v in second.items() if k not in ("step", "seconds")}
    assert (first["step"], second["step"]) == (0, 1)
    assert model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_monitor_rejects_every_below_one():
    with pytest.raises(ValueError, match="every must be >= 1"):
        Monitor(UserVAE(), x_val, every=0)


class Recorder:
    """Anything with add_scalar is used as the TensorBoard writer (your own SummaryWriter)."""

    def __init__(self):
        self.scalars = []

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))


def test_scalars_go_to_a_writer_you_hand_in():
    rec = Recorder()
    monitor = Monitor(UserVAE(), x_val, every=2, tensorboard=rec)
    for _ in range(3):
        monitor()
    tags = {t for t, _, _ in rec.scalars}
    assert {"three_entropies/elbo", "three_entropies/gap", "three_entropies/kl/0", "three_entropies/kl/1"} <= tags
    assert sorted({s for _, _, s in rec.scalars}) == [0, 2]


def test_tensorboard_event_files_when_it_works(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with Monitor(UserVAE(), x_val, tensorboard=tmp_path / "tb") as monitor:
        monitor(0)
        monitor(1)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("three_entropies/elbo")] == [0, 1]


def test_without_tensorboard_a_warning_and_the_jsonl_log_goes_on(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the package were missing
    with pytest.warns(UserWarning, match=r"pip install -e '\.\[tensorboard\]'"):
        monitor = Monitor(UserVAE(), x_val, tensorboard=tmp_path / "tb", log=tmp_path / "log.jsonl")
    monitor()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1 and not (tmp_path / "tb").exists()


def test_lightning_callback_logs_during_fit(tmp_path):
    lightning = pytest.importorskip("lightning")
    from numerics.lightning_callback import ThreeEntropyCallback

    class LitVAE(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.vae = UserVAE()

        def training_step(self, batch, batch_idx):
            (xb,) = batch
            design = estimators.mc_design(4, xb.shape[0], 2, dtype=xb.dtype)
            return -estimators.elbo_objective(self.vae, xb, design)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train), batch_size=50)
    callback = ThreeEntropyCallback(x_val, every=2, log=tmp_path / "three.jsonl", model_attr="vae")
    csv = lightning.pytorch.loggers.CSVLogger(tmp_path / "csv")
    trainer = lightning.Trainer(max_epochs=2, callbacks=[callback], logger=csv, enable_progress_bar=False,
                                enable_model_summary=False, enable_checkpointing=False, accelerator="cpu")
    trainer.fit(LitVAE(), loader)
    rows = [json.loads(line) for line in (tmp_path / "three.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 3, 5, 7]  # global step after batches 1, 3, 5, 7 of 8
    metrics = (tmp_path / "csv").rglob("metrics.csv")
    assert "three_entropies/elbo" in next(metrics).read_text().splitlines()[0]


def test_the_lightning_module_says_how_to_install_it_when_missing(monkeypatch):
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)  # as if Lightning were not installed
    monkeypatch.delitem(sys.modules, "numerics.lightning_callback", raising=False)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[lightning\]'"):
        import numerics.lightning_callback  # noqa: F401

"""PyTorch Lightning callback around `numerics.monitor.Monitor` (optional extra: pip install -e '.[lightning]').

    from numerics.lightning_callback import ThreeEntropyCallback
    trainer = lightning.Trainer(callbacks=[ThreeEntropyCallback(x_val, every=100, log="three.jsonl")])

After every `every`-th training batch it diagnoses the LightningModule (or its attribute `model_attr`,
which must keep the adapter protocol: encode, decode, optional prior_var) on x_val, appends the row
to `log`, and hands the scalars to the trainer's loggers (TensorBoard, CSV, ...) at the global step.
Importing this module without Lightning raises ImportError with the install command.
"""
from __future__ import annotations

from pathlib import Path

from torch import Tensor

from numerics.monitor import PER_LATENT, SCALARS, Monitor

try:
    import lightning.pytorch as pl
except ImportError:  # the standalone package name
    try:
        import pytorch_lightning as pl
    except ImportError as err:
        raise ImportError("numerics.lightning_callback needs PyTorch Lightning: pip install -e '.[lightning]'") from err


class ThreeEntropyCallback(pl.Callback):
    """Three-entropy diagnostics every `every` training batches (module docstring)."""

    def __init__(self, x_val: Tensor, *, every: int = 100, log: str | Path | None = None, model_attr: str | None = None,
                 samples: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.x_val, self.every, self.log_path, self.model_attr = x_val, every, log, model_attr
        self.samples, self.seed = samples, seed
        self.monitor: Monitor | None = None

    def _model(self, pl_module: pl.LightningModule):
        return pl_module if self.model_attr is None else getattr(pl_module, self.model_attr)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        kwargs = {} if self.samples is None else {"samples": self.samples}
        self.monitor = Monitor(self._model(pl_module), self.x_val.to(pl_module.device), every=self.every, log=self.log_path,
                               seed=self.seed, **kwargs)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        row = self.monitor(trainer.global_step)
        if row is None:
            return
        metrics = {f"three_entropies/{k}": row[k] for k in SCALARS if row[k] is not None}
        for key in PER_LATENT:
            metrics.update({f"three_entropies/{key}/{h}": v for h, v in enumerate(row[key]) if v is not None})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.monitor is not None:
            self.monitor.close()

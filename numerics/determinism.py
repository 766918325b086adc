"""Same seed and device, same numbers: the process settings that make CUDA runs repeatable.

On the CPU every operation this package uses is deterministic already. On CUDA, cuBLAS may pick
reduction orders that differ between runs unless its workspace is fixed (`CUBLAS_WORKSPACE_CONFIG`,
see the PyTorch notes on reproducibility), and a few kernels (atomic-add scatters) have no
deterministic version. `repeatable(device)` fixes the workspace and switches PyTorch to its
deterministic algorithms in warn-only mode: an operation without a deterministic implementation then
prints a warning that names it instead of stopping a training run.

Like `torch.set_num_threads`, these are settings of the whole process, made once per run.
"""
from __future__ import annotations

import os

import torch

CUBLAS_WORKSPACE = ":4096:8"
"""A fixed cuBLAS workspace (one of the two values PyTorch documents for deterministic cuBLAS)."""


def repeatable(device: torch.device) -> None:
    """Make runs on `device` repeatable (CUDA: fixed cuBLAS workspace, deterministic algorithms,
    warn-only); nothing to do on the CPU. A workspace the user set already is kept."""
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=True)

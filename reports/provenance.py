"""Provenance of a report: package versions, device, git commit, seeds and wall times."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "sympy", "numpy", "scipy", "matplotlib", "mlxtend", "fpdf2", "tqdm", "three-entropies")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the report depends on ("not installed" when absent)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict[str, str]:
    """CPU, core count and (if torch sees one) the CUDA device."""
    import os

    info = {"platform": platform.platform(), "cpu": _cpu_name(), "cores": str(os.cpu_count())}
    try:
        import torch
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
        info["torch threads"] = str(torch.get_num_threads())
    except Exception:
        info["cuda"] = "torch not importable"
    return info


def git_commit(cwd: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the checkout this package lives in, with ``+dirty`` for local changes."""
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + (" +dirty" if dirty else "")


def provenance(command: str) -> dict:
    """Everything but the wall times, which the build adds as it goes."""
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "command": command,
            "git commit": git_commit(), "versions": package_versions(), "device": device_info()}

"""The command-line parser of the numerics CLIs: a bad option is one line on stderr and exit 2."""
from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors print one line (no usage block) and exit EXIT_USAGE."""

    def error(self, message: str) -> None:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)

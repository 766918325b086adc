"""``python -m numerics.diagnose RUN_DIR``: the command line of `numerics.diagnosis` (see there).

The code lives in `numerics.diagnosis`, so that `numerics.diagnose` stays the function
`numerics.diagnosis.diagnose` (exported by the package) and running this module imports nothing twice.
"""
import sys

from numerics.diagnosis import main

if __name__ == "__main__":
    sys.exit(main())

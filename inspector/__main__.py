"""``python -m inspector`` and the frozen build's entry point."""

import multiprocessing
import sys

from inspector.cli import main

if __name__ == "__main__":
    # A frozen build re-runs this executable for the compiled backend's spawned worker;
    # freeze_support hands that run to multiprocessing instead of the command line.
    multiprocessing.freeze_support()
    sys.exit(main())

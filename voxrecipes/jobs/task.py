"""One array task of the Slurm dispatcher: ``python -m voxrecipes.jobs.task JOBS.json INDEX``."""

from __future__ import annotations

import json
import sys

from voxrecipes.jobs.runner import run_one
from voxrecipes.jobs.spec import JobArray


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        jobs = JobArray(**json.load(handle))
    sys.exit(run_one(jobs, int(sys.argv[2])))


if __name__ == "__main__":
    main()

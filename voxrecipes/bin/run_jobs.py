"""Job dispatcher behind utils/run_local.sh and utils/run_slurm.sh.

Usage: ``python -m voxrecipes.bin.run_jobs --backend {local,slurm} [--mem 4G]
[--gpu N] [--num-threads N] [--max-jobs-run K] [--config conf/slurm.conf]
[JOB=1:N] log/name.JOB.log command args...``

Exits 0 when every job succeeded; otherwise 1, after all jobs ended, naming how
many failed and the log of the first failed one.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from voxrecipes.cli import setup_logging
from voxrecipes.errors import VoxError
from voxrecipes.jobs.local import run_local
from voxrecipes.jobs.spec import USAGE, parse_job_args

DEFAULT_SLURM_CONF = Path(__file__).resolve().parents[2] / "conf" / "slurm.conf"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    setup_logging(1)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    backend = "local"
    if argv[0] == "--backend":
        if len(argv) < 2 or argv[1] not in ("local", "slurm"):
            print("run_jobs: --backend takes local or slurm", file=sys.stderr)
            return 2
        backend, argv = argv[1], argv[2:]
    try:
        jobs = parse_job_args(argv)
        if backend == "local":
            codes = run_local(jobs)
        else:
            from voxrecipes.jobs.slurm import read_slurm_config, run_slurm

            codes = run_slurm(jobs, read_slurm_config(jobs.options.get("config", DEFAULT_SLURM_CONF)))
    except VoxError as err:
        print(f"run_jobs: ERROR: {err}", file=sys.stderr)
        return 2
    failed = [i for i, code in codes.items() if code != 0]
    if failed:
        print(f"run_jobs: {len(failed)} / {len(codes)} jobs failed, log is in {jobs.log_of(failed[0])}",
              file=sys.stderr)
        return 1
    logging.getLogger(__name__).debug("run_jobs: %d jobs succeeded", len(codes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The local dispatcher: jobs on this machine, at most ``max_jobs_run`` at once."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from voxrecipes.jobs.runner import run_one
from voxrecipes.jobs.spec import JobArray

logger = logging.getLogger(__name__)


def run_local(jobs: JobArray) -> dict[int, int]:
    """Run every job of ``jobs``; return the exit code of each index.

    ``--gpu`` and ``--mem`` have no meaning locally and are only noted.
    """
    for ignored in ("gpu", "mem", "time"):
        if ignored in jobs.options:
            logger.debug("run_local: --%s %s ignored on this machine", ignored, jobs.options[ignored])
    width = int(jobs.options.get("max_jobs_run", os.cpu_count() or 1))
    width = max(1, min(width, len(jobs.indices)))
    with ThreadPoolExecutor(max_workers=width) as pool:
        codes = dict(zip(jobs.indices, pool.map(lambda i: run_one(jobs, i), jobs.indices)))
    return codes

"""Running one job of an array and writing its log in Kaldi's format.

The log starts with ``# <command>`` and ``# Started at <date>``, holds the job's
stdout and stderr, and ends with ``# Accounting: time=<s> threads=<n>`` and
``# Ended (code <rc>) at <date>``, so that a failed stage is diagnosed from the
log alone.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from voxrecipes.jobs.spec import JobArray


def _now() -> str:
    return time.strftime("%a %b %d %H:%M:%S %Z %Y")


def run_one(jobs: JobArray, index: int) -> int:
    """Run job ``index`` with bash, appending everything to its log; return the exit code."""
    log = Path(jobs.log_of(index))
    log.parent.mkdir(parents=True, exist_ok=True)
    command = jobs.command_of(index)
    env = dict(os.environ)
    threads = str(jobs.num_threads)
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    began = time.time()
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(f"# {command}\n# Started at {_now()}\n#\n")
        handle.flush()
        try:
            code = subprocess.run(["bash", "-c", command], stdout=handle, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env).returncode
        except OSError as err:
            handle.write(f"failed to start bash: {err}\n")
            code = 127
        elapsed = int(round(time.time() - began))
        handle.write(f"# Accounting: time={elapsed} threads={threads}\n# Ended (code {code}) at {_now()}\n")
    return code

"""Parsing of the dispatcher command line into a job array.

``[--mem 4G] [--gpu 1] [--num-threads N] [--max-jobs-run K] [--config F]
[VAR=start:end] logfile command args...``: every occurrence of ``VAR`` in the
log path and in the command is replaced by the job index, as in Kaldi's
``run.pl``. Without ``VAR=`` there is one job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voxrecipes.errors import ConfigError

USAGE = ("usage: CMD [--mem 4G] [--gpu N] [--num-threads N] [--max-jobs-run K] [--config F] "
         "[JOB=1:N] log/name.JOB.log command args...")
_RANGE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+):(\d+)$")
_VALUED = {"--mem": "mem", "--gpu": "gpu", "--num-threads": "num_threads", "--num_threads": "num_threads",
           "--max-jobs-run": "max_jobs_run", "--max_jobs_run": "max_jobs_run", "--config": "config",
           "--time": "time"}


@dataclass
class JobArray:
    """What to run: a command template, a log template and the job indices."""

    log: str
    command: str
    var: str | None = None
    start: int = 1
    end: int = 1
    options: dict[str, str] = field(default_factory=dict)

    @property
    def indices(self) -> list[int]:
        return list(range(self.start, self.end + 1))

    def substitute(self, text: str, index: int) -> str:
        """Replace the job variable by ``index`` (whole-word occurrences, as Kaldi does)."""
        if self.var is None:
            return text
        return re.sub(rf"(?<![A-Za-z0-9_]){re.escape(self.var)}(?![A-Za-z0-9_])", str(index), text)

    def log_of(self, index: int) -> str:
        return self.substitute(self.log, index)

    def command_of(self, index: int) -> str:
        return self.substitute(self.command, index)

    @property
    def num_threads(self) -> int:
        return int(self.options.get("num_threads", 1))


def parse_job_args(argv: list[str]) -> JobArray:
    """Parse the dispatcher arguments; raise :class:`ConfigError` with the usage on error."""
    options: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        name = _VALUED.get(argv[i])
        if name is None:
            raise ConfigError(f"unknown option {argv[i]}; {USAGE}")
        if i + 1 >= len(argv):
            raise ConfigError(f"option {argv[i]} needs a value; {USAGE}")
        options[name] = argv[i + 1]
        i += 2
    var, start, end = None, 1, 1
    if i < len(argv):
        match = _RANGE.match(argv[i])
        if match:
            var, start, end = match.group(1), int(match.group(2)), int(match.group(3))
            if end < start:
                raise ConfigError(f"empty job range {argv[i]}")
            i += 1
        elif "=" in argv[i].split("/")[0] and ":" in argv[i]:
            raise ConfigError(f"bad job range {argv[i]} (expected NAME=start:end)")
    if len(argv) - i < 2:
        raise ConfigError(f"need a log file and a command; {USAGE}")
    for key in ("num_threads", "max_jobs_run", "gpu"):
        if key in options and not options[key].isdigit():
            raise ConfigError(f"--{key.replace('_', '-')} takes a whole number, got '{options[key]}'")
    command = " ".join(_shell_word(arg) for arg in argv[i + 1:])
    return JobArray(log=argv[i], command=command, var=var, start=start, end=end, options=options)


def _shell_word(arg: str) -> str:
    """An argument as it goes into the job's shell command.

    Arguments are joined into one shell command line, so that shell code given as one
    argument (``'cmd1 | cmd2'``) or as separate words still works; an empty argument
    alone is written as ``''`` so that it reaches the command instead of vanishing
    (``--prefix ""``).
    """
    return arg if arg else "''"

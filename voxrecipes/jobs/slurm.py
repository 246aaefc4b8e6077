"""The Slurm dispatcher: one ``sbatch --array`` job per call, waited for.

Options such as ``--mem 4G`` are turned into sbatch arguments by the rules of
``conf/slurm.conf``::

    command sbatch --export=ALL      # the submit command and its fixed arguments
    option mem=* --mem=$0            # a value: $0 is replaced by it
    option gpu=0                     # this exact value adds nothing
    option gpu=* --gres=gpu:$0
    default gpu=0                    # used when the call does not give the option

Each array task runs :func:`voxrecipes.jobs.runner.run_one` (same log format as
the local dispatcher) and writes its exit code to ``<logdir>/q/<name>.<i>.rc``;
the dispatcher waits for those files, so it needs nothing from ``sacct``.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.jobs.spec import JobArray

logger = logging.getLogger(__name__)


@dataclass
class SlurmConfig:
    """Parsed ``slurm.conf``: the submit command, option rules and defaults."""

    command: list[str] = field(default_factory=lambda: ["sbatch"])
    exact: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    wildcard: dict[str, list[str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    def arguments(self, options: dict[str, str]) -> list[str]:
        """sbatch arguments for the call's options (and the config's defaults)."""
        args: list[str] = []
        merged = {**self.defaults, **{k: v for k, v in options.items() if k not in ("config", "max_jobs_run")}}
        for name, value in merged.items():
            if (name, value) in self.exact:
                args += self.exact[(name, value)]
            elif name in self.wildcard:
                args += [a.replace("$0", value) for a in self.wildcard[name]]
            else:
                raise ConfigError(f"slurm.conf has no rule for option {name}={value}")
        return args


def read_slurm_config(path: str | Path) -> SlurmConfig:
    """Parse ``slurm.conf``; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "Slurm config not found")
    conf = SlurmConfig()
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = shlex.split(line)
        kind, rest = words[0], words[1:]
        if kind == "command" and rest:
            conf.command = rest
        elif kind in ("option", "default") and rest and re.match(r"^\w+=\S*$", rest[0]):
            name, value = rest[0].split("=", 1)
            if kind == "default":
                conf.defaults[name] = value
            elif value == "*":
                conf.wildcard[name] = rest[1:]
            else:
                conf.exact[(name, value)] = rest[1:]
        else:
            raise DataError(path, lineno, "expected 'command ...', 'option name=value args' or 'default name=value'")
    return conf


def _task_script(jobs_file: Path, rc_prefix: Path) -> str:
    return "\n".join([
        "#!/usr/bin/env bash",
        f"cd {shlex.quote(str(Path.cwd()))}",
        f"{shlex.quote(sys.executable)} -m voxrecipes.jobs.task {shlex.quote(str(jobs_file))} ${{SLURM_ARRAY_TASK_ID}}",
        f"echo $? > {shlex.quote(str(rc_prefix))}.${{SLURM_ARRAY_TASK_ID}}.rc",
        "",
    ])


def _in_queue(job_id: str) -> bool | None:
    """Whether Slurm still lists the job; None when squeue is not available."""
    if shutil.which("squeue") is None:
        return None
    out = subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True)
    return bool(out.stdout.strip()) if out.returncode == 0 else False


def run_slurm(jobs: JobArray, config: SlurmConfig, poll_seconds: float = 5.0) -> dict[int, int]:
    """Submit ``jobs`` as one array job, wait, and return the exit code of each index."""
    log_dir = Path(jobs.log_of(jobs.start)).parent
    qdir = log_dir / "q"
    qdir.mkdir(parents=True, exist_ok=True)
    name = Path(jobs.log).name.replace(jobs.var or "\0", "").strip(".") or "job"
    rc_prefix = qdir / name
    for index in jobs.indices:
        Path(f"{rc_prefix}.{index}.rc").unlink(missing_ok=True)
    jobs_file = qdir / f"{name}.json"
    jobs_file.write_text(json.dumps(jobs.__dict__), encoding="utf-8")
    script = qdir / f"{name}.sh"
    script.write_text(_task_script(jobs_file, rc_prefix), encoding="utf-8")
    script.chmod(0o755)
    array = f"{jobs.start}-{jobs.end}"
    if "max_jobs_run" in jobs.options:
        array += f"%{jobs.options['max_jobs_run']}"
    cmd = [*config.command, *config.arguments(jobs.options), "--parsable", f"--array={array}",
           f"--job-name={name}", f"--output={qdir}/{name}.%a.out", str(script)]
    logger.info("submitting: %s", " ".join(shlex.quote(c) for c in cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ConfigError(f"sbatch failed (code {proc.returncode}): {proc.stderr.strip()[-500:]}")
    job_id = proc.stdout.strip().split(";")[0]
    missing_since: float | None = None
    while True:
        done = {i: Path(f"{rc_prefix}.{i}.rc") for i in jobs.indices}
        if all(p.is_file() for p in done.values()):
            break
        queued = _in_queue(job_id)
        if queued is False:
            # Give the file system a moment; tasks killed by Slurm never write their .rc file.
            missing_since = missing_since or time.time()
            if time.time() - missing_since > 3 * poll_seconds:
                break
        time.sleep(poll_seconds)
    codes = {}
    for index in jobs.indices:
        rc_file = Path(f"{rc_prefix}.{index}.rc")
        text = rc_file.read_text().strip() if rc_file.is_file() else ""
        codes[index] = int(text) if text.lstrip("-").isdigit() else 1
    return codes

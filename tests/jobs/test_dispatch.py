"""Tests of the job dispatchers (utils/run_local.sh, utils/run_slurm.sh) and parse_options.sh."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voxrecipes.errors import ConfigError
from voxrecipes.jobs.spec import parse_job_args

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "utils"


def _env(extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(UTILS), str(Path(sys.executable).parent)]
    if extra_path is not None:
        path.insert(0, str(extra_path))
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    env["PYTHONPATH"] = str(ROOT)
    return env


def dispatch(tmp_path: Path, *args: str, backend: str = "local", extra_path: Path | None = None):
    script = UTILS / f"run_{backend}.sh"
    return subprocess.run([str(script), *args], cwd=tmp_path, env=_env(extra_path), capture_output=True, text=True)


def test_one_failing_job_fails_the_call_and_names_its_log(tmp_path):
    proc = dispatch(tmp_path, "JOB=1:4", "log/t.JOB.log", "test JOB -ne 3 && echo done JOB")
    assert proc.returncode == 1
    assert "1 / 4 jobs failed, log is in log/t.3.log" in proc.stderr
    for index in (1, 2, 4):
        lines = (tmp_path / f"log/t.{index}.log").read_text().splitlines()
        assert lines[0] == f"# test {index} -ne 3 && echo done {index}"
        assert f"done {index}" in lines
        assert lines[-2].startswith("# Accounting: time=") and lines[-2].endswith("threads=1")
        assert lines[-1].startswith("# Ended (code 0) at ")
    assert (tmp_path / "log/t.3.log").read_text().splitlines()[-1].startswith("# Ended (code 1) at ")


def test_variable_replaced_only_as_a_whole_word(tmp_path):
    proc = dispatch(tmp_path, "N=2:3", "log/x.N.log", "echo N NAME N_1 >", "out.N")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.2").read_text() == "2 NAME N_1\n"
    assert (tmp_path / "out.3").read_text() == "3 NAME N_1\n"


def test_single_job_form_with_pipe(tmp_path):
    proc = dispatch(tmp_path, "log/one.log", "echo abc", "|", "tr a-z A-Z")
    assert proc.returncode == 0
    assert "ABC" in (tmp_path / "log/one.log").read_text().splitlines()


def test_max_jobs_run_bounds_parallelism(tmp_path):
    # Each job records start and end times; with one slot the intervals must not overlap.
    cmd = "python3 -c 'import time;print(time.time())' > t.JOB.start; sleep 0.3; " \
          "python3 -c 'import time;print(time.time())' > t.JOB.end"
    proc = dispatch(tmp_path, "--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", cmd)
    assert proc.returncode == 0, proc.stderr
    spans = sorted((float((tmp_path / f"t.{i}.start").read_text()), float((tmp_path / f"t.{i}.end").read_text()))
                   for i in (1, 2, 3))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end


def test_num_threads_exported(tmp_path):
    proc = dispatch(tmp_path, "--num-threads", "3", "log/t.log", "echo threads=$OMP_NUM_THREADS")
    assert proc.returncode == 0
    assert "threads=3" in (tmp_path / "log/t.log").read_text()


@pytest.mark.parametrize("argv,message", [
    (["--bogus", "1", "log", "cmd"], "unknown option --bogus"),
    (["JOB=3:1", "log", "cmd"], "empty job range"),
    (["log.JOB"], "need a log file and a command"),
    (["--num-threads", "x", "log", "cmd"], "takes a whole number"),
])
def test_bad_dispatcher_arguments(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_job_args(argv)


FAKE_SBATCH = r"""#!/usr/bin/env bash
# Stand-in for sbatch: records its arguments and runs the array tasks one by one.
echo "$@" >> "$FAKE_SBATCH_LOG"
array=""; for a in "$@"; do case $a in --array=*) array=${a#--array=}; array=${array%%%*};; esac; done
script=${@: -1}
for i in $(seq ${array%-*} ${array#*-}); do SLURM_ARRAY_TASK_ID=$i bash "$script"; done
echo 4242
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    sbatch = bindir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(0o755)
    os.environ["FAKE_SBATCH_LOG"] = str(tmp_path / "sbatch.args")
    yield bindir
    del os.environ["FAKE_SBATCH_LOG"]


def test_slurm_backend_runs_array_and_maps_options(tmp_path, fake_slurm):
    proc = dispatch(tmp_path, "--config", str(ROOT / "conf" / "slurm.conf"), "--mem", "4G", "--gpu", "1",
                    "JOB=1:3", "log/s.JOB.log", "echo task JOB", backend="slurm", extra_path=fake_slurm)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "sbatch.args").read_text()
    assert "--mem=4G" in args and "--gres=gpu:1" in args and "--array=1-3" in args
    assert "--cpus-per-task=1" in args
    for index in (1, 2, 3):
        log = (tmp_path / f"log/s.{index}.log").read_text().splitlines()
        assert f"task {index}" in log and log[-1].startswith("# Ended (code 0)")


def test_slurm_backend_reports_failed_task(tmp_path, fake_slurm):
    proc = dispatch(tmp_path, "--config", str(ROOT / "conf" / "slurm.conf"), "JOB=1:2", "log/f.JOB.log",
                    "test JOB -eq 1", backend="slurm", extra_path=fake_slurm)
    assert proc.returncode == 1
    assert "1 / 2 jobs failed, log is in log/f.2.log" in proc.stderr


OPTIONS_SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
stage=1
stop_stage=100
use_gpu=false
local_data_opts=""
help_message="Usage: demo.sh [options]"
. {utils}/parse_options.sh
echo "stage=${{stage}} stop_stage=${{stop_stage}} use_gpu=${{use_gpu}} opts=[${{local_data_opts}}] rest=$*"
"""


@pytest.fixture
def options_script(tmp_path):
    script = tmp_path / "demo.sh"
    script.write_text(OPTIONS_SCRIPT.format(utils=UTILS))
    script.chmod(0o755)
    return script


def _run(script, *args):
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=script.parent)


def test_parse_options_sets_variables_both_spellings(options_script):
    proc = _run(options_script, "--stage", "3", "--stop-stage", "5", "--use_gpu", "true",
                "--local_data_opts", "--a 1 --b 2", "pos")
    assert proc.stdout.strip() == "stage=3 stop_stage=5 use_gpu=true opts=[--a 1 --b 2] rest=pos"


def test_parse_options_unknown_option(options_script):
    proc = _run(options_script, "--stgae", "3")
    assert proc.returncode == 1
    assert "invalid option --stgae" in proc.stderr


def test_parse_options_boolean_check(options_script):
    proc = _run(options_script, "--use_gpu", "yes")
    assert proc.returncode == 1
    assert "takes true or false" in proc.stderr


def test_parse_options_help_and_config(options_script, tmp_path):
    proc = _run(options_script, "--help")
    assert proc.returncode == 0 and proc.stdout.strip() == "Usage: demo.sh [options]"
    conf = tmp_path / "opts.conf"
    conf.write_text("stage=4\nstop_stage=6\n")
    proc = _run(options_script, "--config", str(conf), "--stop_stage", "7")
    assert proc.stdout.strip() == "stage=4 stop_stage=7 use_gpu=false opts=[] rest="


def test_filter_scp_keeps_and_excludes(tmp_path):
    (tmp_path / "ids").write_text("b\nd extra\n")
    (tmp_path / "table").write_text("a 1\nb 2\nc 3\nd 4\n")
    keep = subprocess.run([str(UTILS / "filter_scp.sh"), "ids", "table"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True)
    drop = subprocess.run([str(UTILS / "filter_scp.sh"), "--exclude", "ids", "table"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True)
    assert keep.stdout == "b 2\nd 4\n" and drop.stdout == "a 1\nc 3\n"
    missing = subprocess.run([str(UTILS / "filter_scp.sh"), "nope", "table"], cwd=tmp_path, env=_env(),
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "nope: id list not found" in missing.stderr


def test_empty_argument_survives(tmp_path):
    script = tmp_path / "args.py"
    script.write_text("import sys, json; print(json.dumps(sys.argv[1:]))\n")
    job = parse_job_args([str(tmp_path / "log"), sys.executable, str(script), "--prefix", "", "x"])
    out = subprocess.run(["bash", "-c", job.command], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '["--prefix", "", "x"]'

"""The command-line entry points and their utils/*.sh wrappers."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voxrecipes.cli import run

REPO = Path(__file__).resolve().parents[2]
NAMES = ["validate_data_dir", "fix_data_dir", "subset_data_dir", "split_data_dir", "combine_data_dirs",
         "compute_utt2dur"]


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.mark.parametrize("name", NAMES)
def test_help(name, capsys):
    module = importlib.import_module(f"voxrecipes.bin.{name}")
    with pytest.raises(SystemExit) as exit_info:
        run(module.main, module.get_parser(), ["--help"])
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out
    wrapper = (REPO / "utils" / f"{name}.sh").read_text().splitlines()
    assert wrapper[-1] == f'exec python -m voxrecipes.bin.{name} "$@"'
    assert os.access(REPO / "utils" / f"{name}.sh", os.X_OK)


def test_validate_cli_error_exit_status(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "wav.scp").write_text("u1 /a\nu2 /b\n")
    (root / "utt2spk").write_text("u2 s\nu1 s\n")
    (root / "spk2utt").write_text("s u1 u2\n")
    proc = subprocess.run(["bash", str(REPO / "utils" / "validate_data_dir.sh"), str(root)], capture_output=True,
                          text=True, env=_env(), cwd=tmp_path)
    assert proc.returncode == 1
    assert f"ERROR: {root}/utt2spk:2: keys not sorted" in proc.stderr.splitlines()[-1]
    fixed = subprocess.run([sys.executable, "-m", "voxrecipes.bin.fix_data_dir", str(root)], capture_output=True,
                           text=True, env=_env(), cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.strip() == f"{root}: kept 2 utterances, dropped 0"


def test_in_process_commands(data_dir, tmp_path, capsys):
    from voxrecipes.bin import combine_data_dirs, compute_utt2dur, split_data_dir, subset_data_dir, validate_data_dir

    run(validate_data_dir.main, validate_data_dir.get_parser(), [str(data_dir), "--check_audio", "--classes",
                                                                  "Profanity", "Bullying", "Racist", "No-Violation",
                                                                  "A", "H", "N", "S"])
    assert "OK (4 utterances, 2 speakers" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        run(validate_data_dir.main, validate_data_dir.get_parser(), [str(data_dir), "--classes", "Racist"])
    assert exit_info.value.code == 1
    assert f"ERROR: {data_dir}/utt2labels:1: unknown label 'Profanity'" in capsys.readouterr().err
    run(compute_utt2dur.main, compute_utt2dur.get_parser(), [str(data_dir)])
    assert (data_dir / "utt2dur").read_text().startswith("spkA_u1 0.5\nspkA_u2 0.25\n")
    spk_list = tmp_path / "spk"
    spk_list.write_text("spkB\n")
    run(subset_data_dir.main, subset_data_dir.get_parser(), ["--spk_list", str(spk_list), str(data_dir),
                                                              str(tmp_path / "b")])
    run(subset_data_dir.main, subset_data_dir.get_parser(), ["--first", "2", str(data_dir), str(tmp_path / "a")])
    run(combine_data_dirs.main, combine_data_dirs.get_parser(), [str(tmp_path / "ab"), str(tmp_path / "a"),
                                                                  str(tmp_path / "b")])
    run(split_data_dir.main, split_data_dir.get_parser(), ["--per_speaker", str(tmp_path / "ab"), "2"])
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == f"{tmp_path / 'ab'}: 4 utterances from 2 directories (files: wav.scp spk2utt utt2spk text " \
                      "utt2lang utt2dur utt2labels utt2category utt2attrs)"
    assert out[-1] == f"{tmp_path / 'ab' / 'split2'}: 2 parts"


def test_non_utf8_text_gives_one_error_line(data_dir, tmp_path):
    text = (data_dir / "text").read_bytes().replace(b"hello world spkA_u2", b"h\xe9llo")
    (data_dir / "text").write_bytes(text)
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.validate_data_dir", str(data_dir)],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "UnicodeDecodeError" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == f"ERROR: {data_dir}/text:2: not valid UTF-8 (byte 0xe9 at column 10)"


def test_filter_scp_non_utf8_and_bom(tmp_path):
    from voxrecipes.bin.filter_scp import filter_lines

    ids, table = tmp_path / "ids", tmp_path / "table"
    ids.write_bytes(b"\xef\xbb\xbfa\nc\n")
    table.write_bytes(b"\xef\xbb\xbfa 1\nb 2\nc 3\r\n")
    assert filter_lines(ids, table) == ["a 1", "c 3"]
    table.write_bytes(b"a 1\nb \xff\nc 3\n")
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.filter_scp", str(ids), str(table)],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1] == f"ERROR: {table}:2: not valid UTF-8 (byte 0xff at column 3)"

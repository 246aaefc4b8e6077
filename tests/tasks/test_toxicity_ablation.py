"""ablation.sh's English-only variant (--lang en --whisper_model ...): the data subsets it makes and the
run.sh calls it issues, with a stand-in run.sh that records its arguments (no training)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from voxrecipes.data.datadir import DataDir, write_data_dir

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "egs/TEMPLATE/tox1"
LANGS = {"train": ["en", "es", "en", "fr"], "dev": ["en", "de"], "test": ["pt", "en", "en"]}

STUB_RUN = """#!/usr/bin/env bash
# Stand-in for run.sh: one line per call with its arguments, shell-quoted; a call whose last --stop_stage is 1
# "prepares the data" by copying prepared/data (as stage 1, local/data.sh, would make it).
printf '%q ' "$@" >> calls.txt
echo >> calls.txt
stop=
while [ $# -gt 0 ]; do [ "$1" = --stop_stage ] && stop=$2; shift; done
[ "${stop}" = 1 ] && cp -r prepared/data data
exit 0
"""


@pytest.fixture()
def recipe(tmp_path):
    """A recipe dir with the real ablation.sh and path.sh, a recording run.sh and data/{train,dev,test}."""
    (tmp_path / "ablation.sh").symlink_to(TEMPLATE / "ablation.sh")
    (tmp_path / "path.sh").symlink_to(TEMPLATE / "path.sh")
    (tmp_path / "run.sh").write_text(STUB_RUN)
    (tmp_path / "run.sh").chmod(0o755)
    for name, langs in LANGS.items():
        utts = [f"{name}{i}" for i in range(len(langs))]
        write_data_dir(tmp_path / "prepared" / "data" / name, wav_scp={u: f"/audio/{u}.wav" for u in utts},
                       utt2spk={u: u for u in utts}, utt2lang=dict(zip(utts, langs)),
                       utt2labels={u: ["No_Violation"] for u in utts})
    return tmp_path


def _ablation(recipe: Path, *args: str) -> list[list[str]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(["bash", "ablation.sh", *args], cwd=recipe, env=env, check=True, capture_output=True, text=True)
    return [shlex.split(line) for line in (recipe / "calls.txt").read_text().splitlines()]


def _opt(call: list[str], name: str) -> str:
    """The last value of --name in a call (parse_options.sh keeps the last one)."""
    return [call[i + 1] for i, a in enumerate(call) if a == name][-1]


def test_english_variant_subsets_data_and_uses_its_encoder_and_dirs(recipe):
    prepare, table2, table3 = _ablation(recipe, "--lang", "en", "--whisper_model", "openai/whisper-small.en",
                                        "--alphas", "0.1", "--", "--ngpu", "1", "--stop_stage", "8")
    # no data yet: stage 1 alone first, whatever stages the user's tox.sh options ask for
    assert (_opt(prepare, "--stage"), _opt(prepare, "--stop_stage")) == ("1", "1")
    assert "--systems" not in prepare
    for name, langs in LANGS.items():
        subset = DataDir.load(recipe / "data" / f"{name}_en")
        assert subset.utts == [f"{name}{i}" for i, lang in enumerate(langs) if lang == "en"]
    tag = "_en_whisper-small.en"
    for call, table in ((table2, "2"), (table3, "3")):
        assert (_opt(call, "--train_set"), _opt(call, "--valid_set"), _opt(call, "--test_sets")) == \
            ("train_en", "dev_en", "test_en")
        assert _opt(call, "--expdir") == "exp/en_whisper-small.en"
        assert _opt(call, "--results_file") == f"RESULTS_table{table}{tag}.md"
        assert _opt(call, "--stage") == "2" and _opt(call, "--ngpu") == "1" and _opt(call, "--stop_stage") == "8"
        systems = _opt(call, "--systems").split()
        assert systems[0] == "baseline:alpha=1.0,whisper_model=openai/whisper-small.en"
        assert all(s.endswith(",whisper_model=openai/whisper-small.en") for s in systems)
    assert _opt(table2, "--systems").split()[1:] == [
        "mse_a0.1:alpha=0.1,injection_loss=mse,whisper_model=openai/whisper-small.en",
        "contrastive_a0.1:alpha=0.1,injection_loss=contrastive,whisper_model=openai/whisper-small.en"]


def test_default_is_unchanged(recipe):
    (recipe / "prepared").rename(recipe / "prepared_unused")
    table2, table3 = _ablation(recipe, "--alphas", "0.1")
    assert "--expdir" not in table2 and "--train_set" not in table2 and _opt(table2, "--stage") == "1"
    assert (_opt(table2, "--results_file"), _opt(table3, "--results_file")) == ("RESULTS_table2.md",
                                                                                "RESULTS_table3.md")
    assert _opt(table2, "--systems") == ("baseline:alpha=1.0 mse_a0.1:alpha=0.1,injection_loss=mse "
                                         "contrastive_a0.1:alpha=0.1,injection_loss=contrastive")
    assert not (recipe / "data").exists()  # the data is tox.sh's stage 1 in the Table 2 run

"""Clip selection by duration (the toxicity paper: training 1-15 s, evaluation 1-60 s) on clips of 0.5, 10, 20, 70 s."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.bin.select_by_duration import get_parser, main
from voxrecipes.cli import run
from voxrecipes.data.datadir import DataDir, write_data_dir
from voxrecipes.data.duration_select import RECORD_FILE, partition_by_duration, select_by_duration
from voxrecipes.errors import ConfigError, DataError

SECONDS = {"a-short": 0.5, "b-ten": 10.0, "c-twenty": 20.0, "d-seventy": 70.0}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A data dir whose wavs last 0.5, 10, 20 and 70 s (silence at 8 kHz: the header gives the duration)."""
    root = tmp_path_factory.mktemp("clips")
    wav_scp = {}
    for utt, seconds in SECONDS.items():
        path = root / f"{utt}.wav"
        sf.write(path, np.zeros(int(seconds * 8000), dtype=np.int16), 8000, subtype="PCM_16")
        wav_scp[utt] = str(path)
    write_data_dir(root / "all", wav_scp=wav_scp, utt2spk={u: "spk" for u in SECONDS},
                   utt2labels={u: ["No_Violation"] for u in SECONDS}, text={u: "hello" for u in SECONDS})
    return root


@pytest.mark.parametrize("bounds, kept, short, long", [
    ((1.0, 15.0), ["b-ten"], ["a-short"], ["c-twenty", "d-seventy"]),   # the paper's training clips
    ((1.0, 60.0), ["b-ten", "c-twenty"], ["a-short"], ["d-seventy"]),   # the paper's evaluation clips
    ((0.0, None), list(SECONDS), [], []),
])
def test_selection_sets_counts_and_record(clips, tmp_path, bounds, kept, short, long):
    record = select_by_duration(clips / "all", tmp_path / "sel", min_seconds=bounds[0], max_seconds=bounds[1])
    assert (record.kept, record.too_short, record.too_long) == (kept, short, long)
    out = DataDir.load(tmp_path / "sel")
    assert out.utts == kept and sorted(out.wav_scp) == kept
    saved = json.loads((tmp_path / "sel" / RECORD_FILE).read_text())
    assert (saved["num_kept"], saved["num_too_short"], saved["num_too_long"]) == (len(kept), len(short), len(long))
    assert (saved["too_short"], saved["too_long"]) == (short, long)
    # durations were computed from the headers and written to the source, and carried into the selection
    assert DataDir.load(clips / "all").utt2dur == pytest.approx(SECONDS)
    assert out.utt2dur == pytest.approx({u: SECONDS[u] for u in kept})


def test_bounds_are_inclusive_and_checked():
    durations = {"x": 1.0, "y": 15.0, "z": 15.000001}
    assert partition_by_duration(durations, 1.0, 15.0) == (["x", "y"], [], ["z"])
    with pytest.raises(ConfigError, match="below min_seconds"):
        partition_by_duration(durations, 2.0, 1.0)
    with pytest.raises(ConfigError, match="negative"):
        partition_by_duration(durations, -1.0, None)


def test_cli_prints_counts_and_empty_selection_fails_without_output(clips, tmp_path, capsys):
    run(main, get_parser(), ["--min_seconds", "1", "--max_seconds", "15", str(clips / "all"), str(tmp_path / "tr")])
    assert "kept 1 of 4 utterances of 1-15 s; excluded 1 shorter than 1 s and 2 longer than 15 s" \
        in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        run(main, get_parser(), ["--min_seconds", "80", str(clips / "all"), str(tmp_path / "none")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert f"{clips / 'all' / 'utt2dur'}" in err and "no utterance lasts between 80" in err
    assert not (tmp_path / "none").exists() and not (tmp_path / "none.tmp").exists()
    with pytest.raises(DataError):
        select_by_duration(clips / "all", tmp_path / "none", min_seconds=80, max_seconds=None)

"""dump_audio on bad audio: non-finite samples are an error at their wav.scp line, and nothing is dumped."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.data.datadir import write_data_dir
from voxrecipes.data.dump import dump_audio
from voxrecipes.errors import DataError


def test_dump_rejects_nan_audio_and_writes_nothing(tmp_path, wav_factory):
    good, _ = wav_factory("good.wav", 0.2)
    data = np.full(3200, 0.25, dtype=np.float32)
    data[7] = np.nan
    bad = tmp_path / "wav" / "bad.wav"
    sf.write(str(bad), data, 16000, subtype="FLOAT")
    write_data_dir(tmp_path / "d", wav_scp={"a": str(good), "b": str(bad)}, utt2spk={"a": "s", "b": "s"})
    with pytest.raises(DataError) as err:
        dump_audio(tmp_path / "d", tmp_path / "dump", progress=False)
    assert str(err.value).startswith(f"{tmp_path / 'd' / 'wav.scp'}:2: ") and "non-finite" in str(err.value)
    assert not (tmp_path / "dump").exists() and not (tmp_path / "dump.tmp").exists()
    # the same directory without the bad recording dumps, with the samples PCM_16 can hold
    write_data_dir(tmp_path / "d", wav_scp={"a": str(good)}, utt2spk={"a": "s"})
    info = dump_audio(tmp_path / "d", tmp_path / "dump", progress=False)
    assert info["utterances"] == 1
    np.testing.assert_array_equal(sf.read(str(tmp_path / "dump" / "data" / "a.wav"), dtype="float32")[0],
                                  sf.read(str(good), dtype="float32")[0])

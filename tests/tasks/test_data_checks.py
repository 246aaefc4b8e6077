"""Checks of ESPnet training data lists: the error names the file, the list it should match and the utterance."""

from __future__ import annotations

import pytest

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.tasks.data_checks import check_covers, data_paths, table_keys


def test_table_keys_in_file_order_and_missing_file(tmp_path):
    (tmp_path / "wav.scp").write_text("b x.wav\na y.wav\n\nc z.wav\n")
    assert table_keys(str(tmp_path / "wav.scp")) == ["b", "a", "c"]
    with pytest.raises(DataError, match="nope.scp.*file not found"):
        table_keys(str(tmp_path / "nope.scp"))


def test_data_paths_requires_names():
    entries = [("d/wav.scp", "speech", "sound")]
    with pytest.raises(ConfigError, match="--valid_data_path_and_name_and_type.*missing: category"):
        data_paths(entries, ("speech", "category"), "valid")
    assert data_paths(entries + [("d/category", "category", "text_int")], ("speech", "category"), "train") == {
        "speech": "d/wav.scp", "category": "d/category"}


def test_check_covers_names_both_files_and_first_missing(tmp_path):
    (tmp_path / "wav.scp").write_text("u1 a.wav\nu2 b.wav\nu3 c.wav\n")
    (tmp_path / "category").write_text("u1 0\nu3 2\n")
    paths = {"speech": str(tmp_path / "wav.scp"), "category": str(tmp_path / "category")}
    with pytest.raises(DataError) as err:
        check_covers(paths, "category", "class index")
    text = str(err.value)
    assert str(tmp_path / "category") in text and str(tmp_path / "wav.scp") in text
    assert "1 utterances" in text and "'u2'" in text and "class index" in text
    (tmp_path / "category").write_text("u1 0\nu2 1\nu3 2\nextra 0\n")
    check_covers(paths, "category")  # extra rows are fine


class _Pickled:
    """Not a tensor: a weights-only load must refuse a checkpoint holding it."""


def test_load_trained_rebuilds_loads_prefix_weights_only(tmp_path):
    import pickle

    import torch
    import yaml

    from voxrecipes.tasks.trained_model import load_trained

    def build(args):
        return torch.nn.Linear(args.n, 1)

    def load(checkpoint="best.pth"):
        return load_trained(tmp_path, checkpoint, build, prefix="m.", program="train_x")

    with pytest.raises(DataError, match=r"config.yaml.*not found.*train_x"):
        load()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"n": 2}))
    with pytest.raises(DataError, match="no encoder_config.*train_x"):
        load()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"n": 2, "encoder_config": {"d": 4}}))
    with pytest.raises(DataError, match=r"best.pth.*checkpoint not found"):
        load()
    torch.manual_seed(0)
    source = torch.nn.Linear(2, 1)
    state = {f"m.{k}": v for k, v in source.state_dict().items()}
    torch.save({**state, "other.weight": torch.zeros(3)}, tmp_path / "best.pth")
    module, args, path = load()
    assert args.n == 2 and path == tmp_path / "best.pth" and not module.training
    for name, tensor in source.state_dict().items():
        assert torch.equal(module.state_dict()[name], tensor)
    torch.save({"other.weight": torch.zeros(3)}, tmp_path / "none.pth")
    with pytest.raises(DataError, match=r"no 'm\.\*' weights"):
        load("none.pth")
    torch.save({**state, "m.extra": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(RuntimeError, match="extra"):  # strict: a stray key is not ignored
        load("extra.pth")
    torch.save({**state, "x": _Pickled()}, tmp_path / "pickled.pth")
    with pytest.raises(pickle.UnpicklingError):
        load("pickled.pth")

"""RESULTS.md pieces of the labelling pipeline: pseudo-label precision/recall, the paired mAP difference."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxrecipes.metrics.autolabel_results import label_quality, paired_map_difference

CLASSES = ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"]


def test_label_quality_counts():
    true = {"a": ("en", ["Profanity"]), "b": ("en", ["No_Violation"]), "c": ("en", ["Bullying", "Racist"]),
            "d": ("es", ["Profanity"])}
    pseudo = {"a": ("en", ["Profanity"]), "b": ("en", ["Profanity"]), "c": ("en", ["Bullying"]),
              "d": ("es", ["No_Violation"]), "x": ("en", ["Other"])}  # x has no truth: ignored
    rows = {r["class"]: r for r in label_quality(pseudo, true, CLASSES)}
    assert rows["Profanity"] == {"class": "Profanity", "true": 2, "pseudo": 2, "tp": 1, "precision": 0.5,
                                 "recall": 0.5}
    assert rows["Racist"]["recall"] == 0.0 and np.isnan(rows["Racist"]["precision"])
    assert rows["any toxic"] == {"class": "any toxic", "true": 3, "pseudo": 3, "tp": 2, "precision": 2 / 3,
                                 "recall": 2 / 3}


def _system(tmp_path, name, scores, targets, utts):
    from voxrecipes.data.datadir import write_data_dir

    data = tmp_path / "data"
    if not data.exists():
        sf.write(str(tmp_path / "a.wav"), np.zeros(1600, dtype=np.int16), 16000, subtype="PCM_16")
        labels = {u: [c for c, t in zip(CLASSES, row, strict=True) if t] or ["No_Violation"]
                  for u, row in zip(utts, targets, strict=True)}
        write_data_dir(data, wav_scp={u: str(tmp_path / "a.wav") for u in utts}, utt2spk={u: u for u in utts},
                       utt2labels=labels)
    path = tmp_path / f"{name}.txt"
    path.write_text("#classes " + " ".join(CLASSES) + "\n"
                    + "".join(f"{u} " + " ".join(f"{v:.6f}" for v in row) + "\n" for u, row in zip(utts, scores,
                                                                                                   strict=True)))
    return {"scores": str(path), "data": str(data), "map_classes": ["Profanity", "Dating_Sexting", "Racist",
                                                                     "Bullying"],
            "num_bootstrap": 200, "seed": 0, "alpha": 5.0}


def test_paired_difference_against_sklearn(tmp_path):
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    n = 60
    targets = np.zeros((n, 6), dtype=bool)
    for i in range(n):
        targets[i, rng.choice(4, size=int(rng.integers(0, 3)), replace=False)] = True
    targets[:, 5] = ~targets[:, :5].any(axis=1)
    good = np.clip(targets * 0.6 + rng.random((n, 6)) * 0.5, 0, 1)
    bad = rng.random((n, 6))
    utts = [f"u{i:03d}" for i in range(n)]
    a, b = _system(tmp_path, "good", good, targets, utts), _system(tmp_path, "bad", bad, targets, utts)
    point, ci = paired_map_difference(a, b)
    cols = [CLASSES.index(c) for c in a["map_classes"]]
    ref = (np.mean([average_precision_score(targets[:, k], good[:, k]) for k in cols])
           - np.mean([average_precision_score(targets[:, k], bad[:, k]) for k in cols]))
    assert point == pytest.approx(ref, abs=1e-9)
    assert ci[0] < point < ci[1] and ci[0] > 0  # the good system is better, and the CI says so
    same, same_ci = paired_map_difference(a, a)
    assert same == 0.0 and same_ci == [0.0, 0.0]  # paired: identical systems differ by exactly 0


def _mini_pipeline(tmp_path):
    """The smallest inputs make_autolabel_results accepts: one session, its truth sentence, one DTX chunk."""
    import json

    from voxrecipes.data.datadir import write_data_dir

    wav = tmp_path / "s1.wav"
    sf.write(str(wav), np.zeros(16000 * 3, dtype=np.int16), 16000, subtype="PCM_16")
    truth = tmp_path / "sentences.tsv"
    truth.write_text("session\tsplit\tlanguage\tspeaker\tstart\tend\tlabels\ttext\n"
                     "s1\ttest\ten\tspk\t0.5\t2.0\tNo_Violation\thello there\n", encoding="utf-8")
    chunks = tmp_path / "test_chunks"
    write_data_dir(chunks, wav_scp={"s1": str(wav)}, utt2spk={"s1-a": "s1"}, segments={"s1-a": ("s1", 0.4, 2.3)})
    (chunks / "dtx_stats.json").write_text(json.dumps({"audio_seconds": 3.0, "recordings": {
        "s1": {"duration": 3.0, "chunks": 1, "dropped_short": 0, "speech_seconds": 1.9}}}), encoding="utf-8")
    return ["--truth", str(truth), "--chunks", str(chunks), "--plot", str(tmp_path / "lengths.png")]


def test_results_end_with_the_notes_and_a_bad_notes_file_writes_nothing(tmp_path, capsys):
    from voxrecipes.bin.make_autolabel_results import get_parser, main
    from voxrecipes.cli import run

    base = _mini_pipeline(tmp_path)
    notes = tmp_path / "RESULTS_notes.md"
    notes.write_text("## Notes on this run\n\nWritten by hand.\n\n\n", encoding="utf-8")
    run(main, get_parser(), [*base, "--out", str(tmp_path / "plain.md")])
    run(main, get_parser(), [*base, "--out", str(tmp_path / "RESULTS.md"), "--notes", str(notes)])
    plain = (tmp_path / "plain.md").read_text(encoding="utf-8")
    with_notes = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "| test | 1 | 0.1 | 1 | 1.9 [1.9, 1.9] | 0 | 100.0% | - | - | - |" in plain
    assert plain.endswith("|\n\n")  # without notes: the generated tables only, as before the option
    assert with_notes == plain.removesuffix("\n") + "\n## Notes on this run\n\nWritten by hand.\n"
    run(main, get_parser(), [*base, "--out", str(tmp_path / "again.md"), "--notes", str(notes)])
    assert (tmp_path / "again.md").read_text(encoding="utf-8") == with_notes  # a rerun writes the same file
    capsys.readouterr()
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    for bad, message in ((tmp_path / "missing.md", ": notes file not found"),
                         (tmp_path / "latin1.md", ":1: notes are not UTF-8 text")):
        with pytest.raises(SystemExit) as exit_info:
            run(main, get_parser(), [*base, "--out", str(tmp_path / "NEW.md"), "--plot", str(tmp_path / "NEW.png"),
                                     "--notes", str(bad)])
        assert exit_info.value.code == 1
        assert f"{bad}{message}" in capsys.readouterr().err
        assert not (tmp_path / "NEW.md").exists() and not (tmp_path / "NEW.png").exists()

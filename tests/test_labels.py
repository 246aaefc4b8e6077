"""The one label module: the vocabulary every recipe module shares, and its file parsers."""

from __future__ import annotations

import ast
import functools
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from voxrecipes import labels
from voxrecipes.data.table import write_table
from voxrecipes.errors import ConfigError, DataError

PACKAGE = Path(labels.__file__).parent


def test_vocabulary():
    assert labels.EMOTION_CLASSES == ("A", "S", "H", "U", "F", "D", "C", "N")
    assert labels.EMOTION_CODES == labels.EMOTION_CLASSES + ("O", "X")
    assert labels.ATTRIBUTES == ("valence", "arousal", "dominance") and labels.ATTR_RANGE == (1.0, 7.0)
    assert labels.TOXIC_CLASSES == ("Profanity", "Bullying", "Dating_Sexting", "Racist", "Other")
    assert set(labels.TOXIC_AP_CLASSES) < set(labels.TOXIC_CLASSES)
    assert list(labels.EMOTION_NAMES) == list(labels.EMOTION_CODES)


def test_mini_corpus_generator_keeps_its_list_types():
    from voxrecipes.corpora import mini_podcast

    assert mini_podcast.EMO_CODES == list(labels.EMOTION_CODES)
    assert mini_podcast.PRIMARY_CODES == list(labels.EMOTION_CLASSES)


@pytest.mark.parametrize(("module", "name", "value"), [
    ("voxrecipes.tasks.emotion", "CLASSES", "EMOTION_CODES"),
    ("voxrecipes.tasks.emotion", "F1_CLASSES", "EMOTION_CLASSES"),
    ("voxrecipes.metrics.submission", "CHALLENGE_CLASSES", "EMOTION_CLASSES"),
    ("voxrecipes.metrics.submission", "NON_CHALLENGE_CLASSES", "PSEUDO_CLASSES"),
    ("voxrecipes.models.text_classifier", "CATEGORY_CLASSES", "EMOTION_CLASSES"),
    ("voxrecipes.data.balance", "PRIMARY_CLASSES", "EMOTION_CLASSES"),
    ("voxrecipes.corpora.msp_podcast", "EMO_CODES", "EMOTION_CODES"),
    ("voxrecipes.backend.prior", "PSEUDO_CLASSES", "PSEUDO_CLASSES"),
    ("voxrecipes.metrics.toxicity", "AP_CLASSES", "TOXIC_AP_CLASSES"),
    ("voxrecipes.corpora.toxicity_manifest", "CLASSES", "TOXICITY_CLASSES"),
    ("voxrecipes.corpora.toxic_text_set", "TOXIC", "TOXIC_CLASSES"),
    ("voxrecipes.corpora.mini_podcast", "EMO_NAMES", "EMOTION_NAMES"),
    ("voxrecipes.tasks.toxicity", "CLASSES", "TOXICITY_CLASSES"),
    ("voxrecipes.tasks.toxicity", "AP_CLASSES", "TOXIC_AP_CLASSES"),
    ("voxrecipes.corpora.mutox", "CLASSES", "BINARY_TOXICITY_CLASSES"),
    ("voxrecipes.corpora.mutox", "TOXIC", "TOXIC"),
    ("voxrecipes.corpora.detoxy", "NO_VIOLATION", "NO_VIOLATION"),
    ("voxrecipes.corpora.autolabel_manifest", "NO_VIOLATION", "NO_VIOLATION"),
    ("voxrecipes.corpora.mini_sessions", "NO_VIOLATION", "NO_VIOLATION"),
    ("voxrecipes.tasks.toxicity_labeller", "NO_VIOLATION", "NO_VIOLATION"),
])
def test_modules_use_the_label_module(module, name, value):
    assert getattr(importlib.import_module(module), name) is getattr(labels, value)


def _modules_matching(pattern: str, flags: int = 0) -> list[str]:
    """Modules of the package other than labels.py whose text matches ``pattern``."""
    regex = re.compile(pattern, flags)
    return [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
            if p.name != "labels.py" and regex.search(p.read_text(encoding="utf-8"))]


def test_no_other_module_spells_out_the_emotion_class_list():
    """A literal list of the eight codes anywhere else would be a second definition to keep in step."""
    assert _modules_matching(r"""["']A["'],\s*["']S["'],\s*["']H["'],\s*["']U["']""") == []


def test_no_other_module_spells_out_the_toxicity_class_lists():
    """The six toxicity classes and the four mAP classes are defined in labels.py only."""
    assert _modules_matching(r"""["']Profanity["'],\s*["'](Bullying|Dating_Sexting)["']""") == []


def test_parsers_name_file_and_line(tmp_path):
    path = tmp_path / "utt2attrs"
    assert labels.parse_attrs("4 2.5 7", path, 3) == (4.0, 2.5, 7.0)
    with pytest.raises(DataError, match=r"utt2attrs:3: dominance 7.5 outside the 1-7 scale"):
        labels.parse_attrs("4 2.5 7.5", path, 3)
    with pytest.raises(DataError, match=r"utt2attrs:2: arousal is not finite: 'nan'"):
        labels.parse_attrs("4 nan 2", path, 2)
    with pytest.raises(DataError, match=r"label 'Racist' repeated"):
        labels.parse_labels("Racist Other Racist", tmp_path / "utt2labels", 1)

    write_table(tmp_path / "utt2category", {"u1": "A", "u2": "O", "u3": "Sad"})
    with pytest.raises(DataError, match=r"utt2category:3: label 'Sad' of 'u3' is not one of the classes "
                                        r"\(A S H U F D C N; unknown labels here: 'Sad'\); "
                                        r"labels not trained on \(dropped\): O X$"):
        labels.read_category_labels(tmp_path / "utt2category", labels.EMOTION_CLASSES, labels.PSEUDO_CLASSES)
    write_table(tmp_path / "utt2category", {"u1": "A", "u2": "O", "u3": "N"})
    assert labels.read_category_labels(tmp_path / "utt2category", labels.EMOTION_CLASSES,
                                       labels.PSEUDO_CLASSES) == ({"u1": 0, "u3": 7}, {"O": 1})
    write_table(path, {"u1": "1 2 3", "u2": "7 6.5 1"})
    utts, matrix = labels.read_attribute_table(path)
    assert utts == ["u1", "u2"]
    np.testing.assert_array_equal(matrix, [[1, 2, 3], [7, 6.5, 1]])
    write_table(tmp_path / "utt2labels", {"u1": "Racist Other", "u2": "No_Violation"})
    assert labels.read_multilabel_labels(tmp_path / "utt2labels", labels.TOXICITY_CLASSES) == {
        "u1": [0, 0, 0, 1, 1, 0], "u2": [0, 0, 0, 0, 0, 1]}


def test_no_other_module_defines_a_class_name_constant():
    """``NAME = "No_Violation"`` (or ``"Toxic"``) outside labels.py would be a second definition."""
    assert _modules_matching(r"""^\s*[A-Z_]+\s*=\s*["'](No_Violation|Toxic)["']""", re.MULTILINE) == []


#: The one reader of label files outside labels.py: DataDir.load reads every file of a data
#: directory and parses each line with :mod:`voxrecipes.data.values`, whose label parsers are
#: labels.py's (test_data_dir_parses_label_files_with_the_label_module).
DATA_DIR_READER = "data/datadir.py:load"


@functools.cache
def _functions(package: Path) -> list[tuple[Path, str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """``(relative path, source, function node)`` of every function of ``package``'s modules but labels.py.

    Parsed once for the scans below (the package is ~200 modules).
    """
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.name == "labels.py":
            continue
        source = path.read_text(encoding="utf-8")
        found += [(rel, source, node) for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return found


def _label_file_readers() -> list[str]:
    """Functions outside labels.py that read a Kaldi table and deal with labels: private label readers.

    A function counts when it calls ``read_table`` and its source (docstring included) speaks of
    labels, categories or attributes.
    """
    topic = re.compile(r"\b(labels?|categor\w*|attributes?)(_|\b)|utt2(category|attrs|labels)", re.IGNORECASE)
    found = []
    for rel, source, node in _functions(PACKAGE):
        calls = {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", None)
                 for n in ast.walk(node) if isinstance(n, ast.Call)}
        if "read_table" in calls and topic.search(ast.get_source_segment(source, node) or ""):
            found.append(f"{rel}:{node.name}")
    return found


def test_no_other_module_reads_label_files():
    """utt2category / utt2labels / utt2attrs are read through labels.py (or the DataDir that uses its parsers)."""
    assert _label_file_readers() == [DATA_DIR_READER]


def test_data_dir_parses_label_files_with_the_label_module():
    from voxrecipes.data import values

    assert values._PARSERS["utt2category"] is labels.parse_category
    assert values._PARSERS["utt2labels"] is labels.parse_labels
    assert values._PARSERS["utt2attrs"] is labels.parse_attrs


def _label_to_class_mappers() -> list[str]:
    """Functions outside labels.py that turn class names into positions and reject the unknown ones.

    A function counts when it builds ``{name: position for position, name in enumerate(<...class...>)}``
    and raises a DataError: the shape of a private copy of :func:`labels.label_indices`. (Mappings
    that ignore names outside the list, as the backends' priors do, raise nothing and are not counted.)
    """
    found = []
    for rel, source, node in _functions(PACKAGE):
        builds_index = any(
            isinstance(n, ast.DictComp) and len(n.generators) == 1 and isinstance(n.generators[0].iter, ast.Call)
            and getattr(n.generators[0].iter.func, "id", None) == "enumerate"
            and "class" in (ast.get_source_segment(source, n.generators[0].iter) or "")
            for n in ast.walk(node))
        raises = any(isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)
                     and getattr(n.exc.func, "id", None) == "DataError" for n in ast.walk(node))
        if builds_index and raises:
            found.append(f"{rel}:{node.name}")
    return found


def test_no_other_module_maps_label_names_to_classes():
    """Label names become class positions (and unknown names errors) in labels.label_indices only."""
    assert _label_to_class_mappers() == []


def test_read_categories_checks_one_name_per_line(tmp_path):
    write_table(tmp_path / "utt2category", {"u1": "A", "u2": "H N", "u3": "S"})
    with pytest.raises(DataError, match=r"utt2category:2: expected one class name, found 2 fields: 'H N'"):
        labels.read_categories(tmp_path / "utt2category")
    write_table(tmp_path / "utt2category", {"u1": "A", "u3": "S", "u2": "N"})  # write_table sorts
    table = labels.read_categories(tmp_path / "utt2category")
    assert table == {"u1": "A", "u2": "N", "u3": "S"} and list(table) == ["u1", "u2", "u3"]
    assert labels.label_lines(table) == {"u1": 1, "u2": 2, "u3": 3}


def test_label_indices_maps_names_and_names_every_unknown_one(tmp_path):
    path = tmp_path / "utt2labels"
    table = {"u1": ["Racist", "Other"], "u2": ["No_Violation"], "u3": ["Other"]}
    assert labels.label_indices(table, labels.TOXICITY_CLASSES, path) == {"u1": [3, 4], "u2": [5], "u3": [4]}
    assert labels.label_indices({"a": "N", "b": "A"}, labels.EMOTION_CLASSES, path, utts=["b"]) == {"b": [0]}
    table = {"u1": ["Racist"], "u2": ["Spam", "Other"], "u3": ["Insult"], "u4": ["Spam"]}
    with pytest.raises(DataError) as err:
        labels.label_indices(table, ["Racist", "Other"], path, classes_from="p.txt", hint="; label it again")
    assert str(err.value) == (f"{path}:2: label 'Spam' of 'u2' is not one of the classes of p.txt (Racist Other; "
                              "unknown labels here: 'Spam' 'Insult'); label it again")
    # the line comes from ``lines`` when the table is not the file's own order
    with pytest.raises(DataError, match=r"utt2labels:7: label 'Insult' of 'u3' is not one of the classes \("):
        labels.label_indices(table, ["Racist", "Spam", "Other"], path, lines={"u3": 7})
    with pytest.raises(DataError, match=r"utt2labels: utterance 'u9' has no line here"):
        labels.label_indices(table, ["Racist"], path, utts=["u1", "u9"])
    with pytest.raises(ConfigError, match=r"class names listed twice: A \(in A S A\)"):
        labels.label_indices(table, ["A", "S", "A"], path)


def test_read_multilabel_labels_checks_each_line(tmp_path):
    write_table(tmp_path / "utt2labels", {"u1": "Racist Other Racist"})
    with pytest.raises(DataError, match=r"utt2labels:1: label 'Racist' repeated"):
        labels.read_multilabel_labels(tmp_path / "utt2labels", labels.TOXICITY_CLASSES)
    write_table(tmp_path / "utt2labels", {"u1": "Racist", "u2": "Spam"})
    with pytest.raises(DataError, match=r"utt2labels:2: label 'Spam' of 'u2' is not one of the classes \(Profanity"):
        labels.read_multilabel_labels(tmp_path / "utt2labels", labels.TOXICITY_CLASSES)


def test_label_module_sits_below_the_data_layers_that_use_it():
    """voxrecipes.data.values and .dump import labels.py, so labels.py may import only the lowest data layer."""
    import voxrecipes.data

    tree = ast.parse(Path(labels.__file__).read_text(encoding="utf-8"))
    imported = [alias.name if isinstance(node, ast.Import) else node.module or ""
                for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in node.names]
    assert sorted({m for m in imported if m.startswith("voxrecipes.data")}) == ["voxrecipes.data.table"]
    assert re.search(r"^1\. table\b", voxrecipes.data.__doc__, re.MULTILINE)  # the lowest layer

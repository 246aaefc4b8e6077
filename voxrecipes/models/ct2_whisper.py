"""Read a CTranslate2 Whisper model with numpy and convert it to a transformers Whisper directory.

Why: the only real pretrained Whisper available offline here is packaged as a CTranslate2
model (what faster-whisper runs). The recipes also need it as a transformers
``WhisperForConditionalGeneration`` (encoder initialisation, the transformers ASR backend),
so this module reads CTranslate2's ``model.bin`` straight from its bytes -- ctranslate2 is
not imported -- and writes an equivalent transformers directory. Any CTranslate2 Whisper
(tiny ... large-v3, English-only or multilingual, 80 or 128 mel bins) converts the same way.

``model.bin`` layout (CTranslate2 binary format version 6, little endian; a *string* is a
uint16 byte count followed by that many UTF-8 bytes, the last one NUL)::

    uint32 version | string spec name | uint32 spec revision | uint32 variable count
    per variable:  string name | uint8 rank | uint32 dims[rank] | uint8 dtype | uint32 byte count | data
    uint32 alias count | per alias: string alias | string target variable

dtype codes: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Rank-0 variables
are the spec's scalar attributes (``encoder/num_heads``, ``decoder/pre_norm``, ...). Quantized
weights (int8 per output row, int16 with one scale) come with a ``<linear>/weight_scale``;
the float weight is ``weight / weight_scale``.

Mapping onto transformers' names (``N`` a layer index)::

    encoder/conv1|conv2/{weight,bias}          -> model.encoder.conv1|conv2.*
    encoder/position_encodings/encodings       -> model.encoder.embed_positions.weight
    {enc,dec}/layer_N/self_attention/linear_0  -> self_attn.{q,k,v}_proj (rows split in 3;
                                                  the k bias slice is dropped: HF's k_proj has none)
    {enc,dec}/layer_N/self_attention/linear_1  -> self_attn.out_proj
    .../self_attention/layer_norm              -> self_attn_layer_norm (gamma -> weight, beta -> bias)
    .../ffn/linear_0|linear_1|layer_norm       -> fc1 | fc2 | final_layer_norm
    decoder/layer_N/attention/linear_0         -> encoder_attn.q_proj
    decoder/layer_N/attention/linear_1         -> encoder_attn.{k,v}_proj (rows split in 2; k bias dropped)
    decoder/layer_N/attention/linear_2|layer_norm -> encoder_attn.out_proj | encoder_attn_layer_norm
    decoder/embeddings/weight                  -> model.decoder.embed_tokens.weight
    decoder/projection/weight                  -> proj_out.weight (an alias of the embeddings: tied)
    encoder|decoder/layer_norm                 -> model.encoder|decoder.layer_norm

A key bias is dropped only when it is zero, as CTranslate2's converter writes it; a non-zero
one would be lost by the mapping and is an error. Every other variable must be one of the
spec's scalars checked here, so an unknown layout fails instead of converting half-way.
The output directory (written atomically) holds ``model.safetensors``, ``config.json``,
``generation_config.json`` (greedy transcription with language and task tokens), the
``WhisperProcessor`` files (tokenizer from the model's ``tokenizer.json``, feature
extractor with the model's number of mel bins) and ``ct2_conversion.json`` (provenance).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError

logger = logging.getLogger(__name__)

#: the CTranslate2 binary format version this reader understands
CT2_BINARY_VERSION = 6
#: the model spec and revision of a CTranslate2 Whisper
WHISPER_SPEC = "WhisperSpec"
WHISPER_SPEC_REVISION = 3
#: bump when the converted directory changes, so that caches rebuild
#: (2: the tokenizer names <|endoftext|> as its pad token, as OpenAI's Whisper tokenizers do)
CONVERTER_VERSION = 2
#: Whisper's end-of-text token: also its bos, eos, unk and pad token
EOT_TOKEN = "<|endoftext|>"
#: files a CTranslate2 Whisper directory holds (vocabulary.txt is CTranslate2's own and not needed here)
CT2_MODEL_FILE = "model.bin"
CT2_CONFIG_FILE = "config.json"
CT2_TOKENIZER_FILE = "tokenizer.json"
#: provenance file written into a converted directory
CONVERSION_FILE = "ct2_conversion.json"

# CTranslate2's DataType enum (include/ctranslate2/types.h); bfloat16 is read as uint16 bits
_DTYPES: dict[int, tuple[str, np.dtype]] = {
    0: ("float32", np.dtype("<f4")), 1: ("int8", np.dtype("i1")), 2: ("int16", np.dtype("<i2")),
    3: ("int32", np.dtype("<i4")), 4: ("float16", np.dtype("<f2")), 5: ("bfloat16", np.dtype("<u2")),
}
# CTranslate2's Activation enum: GELU (erf), as Whisper uses
_CT2_GELU = 3
# a Whisper vocabulary of at least this many tokens is multilingual (CTranslate2's and OpenAI's rule)
_MULTILINGUAL_MIN_VOCAB = 51865
# decoder scalars of TransformerDecoderSpec that must hold these values for a Whisper decoder
_DECODER_FLAGS = {"pre_norm": 1, "activation": _CT2_GELU, "scale_embeddings": 0, "alibi": 0,
                  "start_from_zero_embedding": 0}
# OpenAI's default: the first timestamp may be at most 1.0 s (50 steps of 20 ms)
_MAX_INITIAL_TIMESTAMP_INDEX = 50
_OUTPUT_DTYPES = ("float32", "float16")


# ----------------------------------------------------------------------------------------------
# Reading model.bin


@dataclass(frozen=True)
class CT2Variable:
    """One variable of a model.bin: where its bytes are and how to view them."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # CTranslate2's name: float32, int8, int16, int32, float16, bfloat16
    offset: int  # byte offset of the data in the file
    nbytes: int


class _Cursor:
    """Sequential reads from a byte buffer; running past the end names the file and the sizes."""

    def __init__(self, path: Path, buf: np.ndarray) -> None:
        self.path = path
        self.buf = buf
        self.pos = 0

    def take(self, count: int, what: str) -> int:
        start, end = self.pos, self.pos + count
        if end > len(self.buf):
            raise ConfigError(f"{self.path}: truncated CTranslate2 model: reading {what} needs at least {end} bytes, "
                              f"the file has {len(self.buf)} bytes (an incomplete download or a missing part?)")
        self.pos = end
        return start

    def unpack(self, fmt: str, what: str) -> tuple:
        start = self.take(struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.buf, start)

    def string(self, what: str) -> str:
        (length,) = self.unpack("<H", what)
        start = self.take(length, what)
        raw = self.buf[start:start + length].tobytes()
        if length == 0 or raw[-1] != 0:
            raise ConfigError(f"{self.path}: corrupt CTranslate2 model: {what} at byte {start} is not a "
                              "NUL-terminated string")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{self.path}: corrupt CTranslate2 model: {what} at byte {start} is not UTF-8") from None


class CT2Model:
    """The variables of a CTranslate2 ``model.bin``, memory-mapped (nothing is loaded until asked).

    Use :func:`read_ct2_model` to open one. ``array(name)`` returns a copy of a variable
    (aliases followed; bfloat16 widened exactly to float32); ``scalar(name)`` a rank-0 value.
    """

    def __init__(self, path: Path, buf: np.ndarray, version: int, spec: str, revision: int,
                 variables: dict[str, CT2Variable], aliases: dict[str, str]) -> None:
        self.path = path
        self._buf = buf
        self.version = version
        self.spec = spec
        self.revision = revision
        self.variables = variables
        self.aliases = aliases

    def resolve(self, name: str) -> str:
        """The variable an alias points to (or ``name`` itself)."""
        seen = set()
        while name in self.aliases:
            if name in seen:
                raise ConfigError(f"{self.path}: corrupt CTranslate2 model: alias cycle through '{name}'")
            seen.add(name)
            name = self.aliases[name]
        return name

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) in self.variables

    def variable(self, name: str) -> CT2Variable:
        target = self.resolve(name)
        if target not in self.variables:
            raise ConfigError(f"{self.path}: the model has no variable '{name}'"
                              + (f" (alias of '{target}')" if target != name else ""))
        return self.variables[target]

    def array(self, name: str) -> np.ndarray:
        """A copy of variable ``name`` in its stored dtype (bfloat16 as float32)."""
        var = self.variable(name)
        stored = _DTYPES_BY_NAME[var.dtype]
        data = np.frombuffer(self._buf, dtype=stored, count=var.nbytes // stored.itemsize, offset=var.offset)
        data = data.reshape(var.shape)
        if var.dtype == "bfloat16":  # the top 16 bits of a float32
            return (data.astype(np.uint32) << 16).view(np.float32)
        return data.astype(stored.newbyteorder("="), copy=True)

    def scalar(self, name: str) -> int | float:
        """The value of a rank-0 variable (a spec attribute such as ``encoder/num_heads``)."""
        var = self.variable(name)
        if var.shape != ():
            raise ConfigError(f"{self.path}: variable '{name}' has shape {var.shape}, expected a scalar")
        return self.array(name).item()


_DTYPES_BY_NAME = {name: dtype for name, dtype in _DTYPES.values()}


def read_ct2_model(path: str | os.PathLike, *, spec: str | None = WHISPER_SPEC,
                   revision: int | None = WHISPER_SPEC_REVISION) -> CT2Model:
    """Parse the header and variable table of a CTranslate2 ``model.bin`` (data stays memory-mapped).

    Checks: format version :data:`CT2_BINARY_VERSION`, the spec name and revision (when
    not ``None``), dtype codes, that every variable's byte count matches its shape, and
    that the file ends exactly after the alias table. A short file is a
    :class:`ConfigError` naming the file, the bytes needed and the bytes found.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"CTranslate2 model file not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise ConfigError(f"{path}: empty file; expected a CTranslate2 model")
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(path, buf)
    (version,) = cur.unpack("<I", "the format version")
    if version != CT2_BINARY_VERSION:
        raise ConfigError(f"{path}: CTranslate2 binary format version {version}; this reader reads version "
                          f"{CT2_BINARY_VERSION} (re-convert the model with a recent ctranslate2, "
                          "or this is not a CTranslate2 model.bin)")
    spec_name = cur.string("the spec name")
    (spec_revision,) = cur.unpack("<I", "the spec revision")
    if spec is not None and spec_name != spec:
        raise ConfigError(f"{path}: a CTranslate2 '{spec_name}' model, expected '{spec}'")
    if revision is not None and spec_revision != revision:
        raise ConfigError(f"{path}: {spec_name} revision {spec_revision}; this reader knows revision {revision}")
    (count,) = cur.unpack("<I", "the variable count")
    variables: dict[str, CT2Variable] = {}
    for index in range(count):
        name = cur.string(f"the name of variable {index + 1} of {count}")
        (rank,) = cur.unpack("<B", f"the rank of '{name}'")
        shape = cur.unpack(f"<{rank}I", f"the shape of '{name}'") if rank else ()
        (dtype_id,) = cur.unpack("<B", f"the dtype of '{name}'")
        if dtype_id not in _DTYPES:
            raise ConfigError(f"{path}: variable '{name}' has unknown dtype code {dtype_id}")
        dtype_name, dtype = _DTYPES[dtype_id]
        (nbytes,) = cur.unpack("<I", f"the byte count of '{name}'")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes != expected:
            raise ConfigError(f"{path}: variable '{name}' of shape {tuple(shape)} and dtype {dtype_name} "
                              f"declares {nbytes} bytes, expected {expected}")
        offset = cur.take(nbytes, f"the data of '{name}'")
        if name in variables:
            raise ConfigError(f"{path}: variable '{name}' appears twice")
        variables[name] = CT2Variable(name, tuple(int(d) for d in shape), dtype_name, offset, nbytes)
    (alias_count,) = cur.unpack("<I", "the alias count")
    aliases: dict[str, str] = {}
    for index in range(alias_count):
        alias = cur.string(f"alias {index + 1} of {alias_count}")
        aliases[alias] = cur.string(f"the target of alias '{alias}'")
    if cur.pos != size:
        raise ConfigError(f"{path}: {size - cur.pos} unexpected bytes after the end of the model "
                          f"(the model ends at byte {cur.pos}, the file has {size} bytes; parts concatenated twice?)")
    model = CT2Model(path, buf, version, spec_name, spec_revision, variables, aliases)
    for alias in aliases:
        model.variable(alias)  # every alias must lead to a variable
    return model


# ----------------------------------------------------------------------------------------------
# Whisper layout


@dataclass(frozen=True)
class WhisperDims:
    """The architecture of a Whisper model, read from the shapes and scalars of its variables."""

    n_mels: int
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    vocab_size: int
    max_source_positions: int
    max_target_positions: int
    tied_output: bool

    @property
    def is_multilingual(self) -> bool:
        return self.vocab_size >= _MULTILINGUAL_MIN_VOCAB


def _layer_count(model: CT2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in model.variables if (m := pattern.match(name))}
    if not indices:
        raise ConfigError(f"{model.path}: no {stack} layers ({stack}/layer_N/...): not a Whisper model")
    if indices != set(range(len(indices))):
        raise ConfigError(f"{model.path}: {stack} layers are not numbered 0..{len(indices) - 1}: {sorted(indices)}")
    return len(indices)


def _shape(model: CT2Model, name: str, rank: int) -> tuple[int, ...]:
    shape = model.variable(name).shape
    if len(shape) != rank:
        raise ConfigError(f"{model.path}: variable '{name}' has shape {shape}, expected rank {rank}")
    return shape


def whisper_dims(model: CT2Model) -> WhisperDims:
    """Read the architecture; the head counts come from the ``encoder|decoder/num_heads`` scalars."""
    d_model, n_mels, _ = _shape(model, "encoder/conv1/weight", 3)
    source_positions, enc_dim = _shape(model, "encoder/position_encodings/encodings", 2)
    vocab_size, dec_dim = _shape(model, "decoder/embeddings/weight", 2)
    target_positions, pos_dim = _shape(model, "decoder/position_encodings/encodings", 2)
    if not d_model == enc_dim == dec_dim == pos_dim:
        raise ConfigError(f"{model.path}: inconsistent model widths (conv1 {d_model}, encoder positions {enc_dim}, "
                          f"embeddings {dec_dim}, decoder positions {pos_dim})")
    heads = {}
    for stack in ("encoder", "decoder"):
        name = f"{stack}/num_heads"
        if name not in model:
            raise ConfigError(f"{model.path}: no '{name}' scalar; cannot tell the number of attention heads")
        heads[stack] = int(model.scalar(name))
        if heads[stack] < 1 or d_model % heads[stack]:
            raise ConfigError(f"{model.path}: {name} = {heads[stack]} does not divide d_model {d_model}")
    for flag, value in _DECODER_FLAGS.items():
        name = f"decoder/{flag}"
        if name in model and int(model.scalar(name)) != value:
            raise ConfigError(f"{model.path}: {name} = {model.scalar(name)}, a Whisper decoder has {value}")
    projection = "decoder/projection/weight"
    tied = model.resolve(projection) == model.resolve("decoder/embeddings/weight")
    return WhisperDims(
        n_mels=n_mels, d_model=d_model,
        encoder_layers=_layer_count(model, "encoder"), decoder_layers=_layer_count(model, "decoder"),
        encoder_heads=heads["encoder"], decoder_heads=heads["decoder"],
        encoder_ffn_dim=_shape(model, "encoder/layer_0/ffn/linear_0/weight", 2)[0],
        decoder_ffn_dim=_shape(model, "decoder/layer_0/ffn/linear_0/weight", 2)[0],
        vocab_size=vocab_size, max_source_positions=source_positions, max_target_positions=target_positions,
        tied_output=tied)


class _StateDictBuilder:
    """Collects transformers tensors from CTranslate2 variables and records which variables were used."""

    def __init__(self, model: CT2Model, dtype: np.dtype) -> None:
        self.model = model
        self.dtype = dtype
        self.used: set[str] = set()
        self.tensors: dict[str, np.ndarray] = {}

    def _read(self, name: str) -> np.ndarray:
        """A float tensor; quantized weights are divided by their ``weight_scale``."""
        self.used.add(self.model.resolve(name))
        var = self.model.variable(name)
        data = self.model.array(name)
        if var.dtype in ("int8", "int16", "int32"):
            scale_name = name + "_scale"
            if not name.endswith("/weight") or scale_name not in self.model:
                raise ConfigError(f"{self.model.path}: variable '{name}' is {var.dtype} without a '{scale_name}'; "
                                  "cannot dequantize it")
            self.used.add(self.model.resolve(scale_name))
            scale = self.model.array(scale_name).astype(np.float32)
            if scale.ndim == 1:  # one scale per output row (int8); else one for the tensor (int16)
                scale = scale.reshape((-1,) + (1,) * (data.ndim - 1))
            data = data.astype(np.float32) / scale
        return data

    def put(self, hf_name: str, data: np.ndarray) -> None:
        self.tensors[hf_name] = np.ascontiguousarray(data, dtype=self.dtype)

    def copy(self, hf_name: str, ct2_name: str) -> None:
        self.put(hf_name, self._read(ct2_name))

    def linear(self, hf_prefix: str, ct2_prefix: str) -> None:
        self.copy(f"{hf_prefix}.weight", f"{ct2_prefix}/weight")
        self.copy(f"{hf_prefix}.bias", f"{ct2_prefix}/bias")

    def layer_norm(self, hf_prefix: str, ct2_prefix: str) -> None:
        self.copy(f"{hf_prefix}.weight", f"{ct2_prefix}/gamma")
        self.copy(f"{hf_prefix}.bias", f"{ct2_prefix}/beta")

    def fused(self, hf_prefixes: list[str | None], ct2_prefix: str, key_index: int) -> None:
        """Split a fused linear (rows stacked in the order of ``hf_prefixes``); the key part has no bias."""
        weight, bias = self._read(f"{ct2_prefix}/weight"), self._read(f"{ct2_prefix}/bias")
        parts = len(hf_prefixes)
        if weight.shape[0] % parts or bias.shape != (weight.shape[0],):
            raise ConfigError(f"{self.model.path}: '{ct2_prefix}' of shape {weight.shape} (bias {bias.shape}) "
                              f"cannot be split into {parts} projections")
        for index, (hf_prefix, w, b) in enumerate(zip(hf_prefixes, np.split(weight, parts), np.split(bias, parts))):
            self.put(f"{hf_prefix}.weight", w)
            if index == key_index:
                if np.any(b != 0):
                    raise ConfigError(f"{self.model.path}: '{ct2_prefix}/bias' has a non-zero key bias; "
                                      "transformers' Whisper key projection has no bias, so it cannot be converted")
            else:
                self.put(f"{hf_prefix}.bias", b)

    def attention_block(self, hf_layer: str, ct2_layer: str) -> None:
        """Self-attention, feed-forward and their layer norms (shared by encoder and decoder layers)."""
        sa, hf_sa = f"{ct2_layer}/self_attention", f"{hf_layer}.self_attn"
        self.fused([f"{hf_sa}.q_proj", f"{hf_sa}.k_proj", f"{hf_sa}.v_proj"], f"{sa}/linear_0", key_index=1)
        self.linear(f"{hf_sa}.out_proj", f"{sa}/linear_1")
        self.layer_norm(f"{hf_layer}.self_attn_layer_norm", f"{sa}/layer_norm")
        self.linear(f"{hf_layer}.fc1", f"{ct2_layer}/ffn/linear_0")
        self.linear(f"{hf_layer}.fc2", f"{ct2_layer}/ffn/linear_1")
        self.layer_norm(f"{hf_layer}.final_layer_norm", f"{ct2_layer}/ffn/layer_norm")


def ct2_to_hf_state_dict(model: CT2Model, dims: WhisperDims, dtype: str = "float32") -> dict[str, np.ndarray]:
    """The ``WhisperForConditionalGeneration`` state dict (numpy) of a CTranslate2 Whisper.

    ``proj_out.weight`` is included only when the output projection is not tied to the
    token embeddings. Every tensor variable of the model must be used (scalars are
    checked by :func:`whisper_dims`), else :class:`ConfigError`.
    """
    if dtype not in _OUTPUT_DTYPES:
        raise ConfigError(f"output dtype must be one of {', '.join(_OUTPUT_DTYPES)}, got {dtype!r}")
    out = _StateDictBuilder(model, np.dtype(dtype))
    for conv in ("conv1", "conv2"):
        out.copy(f"model.encoder.{conv}.weight", f"encoder/{conv}/weight")
        out.copy(f"model.encoder.{conv}.bias", f"encoder/{conv}/bias")
    out.copy("model.encoder.embed_positions.weight", "encoder/position_encodings/encodings")
    for index in range(dims.encoder_layers):
        out.attention_block(f"model.encoder.layers.{index}", f"encoder/layer_{index}")
    out.layer_norm("model.encoder.layer_norm", "encoder/layer_norm")
    out.copy("model.decoder.embed_tokens.weight", "decoder/embeddings/weight")
    out.copy("model.decoder.embed_positions.weight", "decoder/position_encodings/encodings")
    for index in range(dims.decoder_layers):
        hf_layer, ct2_layer = f"model.decoder.layers.{index}", f"decoder/layer_{index}"
        out.attention_block(hf_layer, ct2_layer)
        cross, hf_cross = f"{ct2_layer}/attention", f"{hf_layer}.encoder_attn"
        out.linear(f"{hf_cross}.q_proj", f"{cross}/linear_0")
        out.fused([f"{hf_cross}.k_proj", f"{hf_cross}.v_proj"], f"{cross}/linear_1", key_index=0)
        out.linear(f"{hf_cross}.out_proj", f"{cross}/linear_2")
        out.layer_norm(f"{hf_layer}.encoder_attn_layer_norm", f"{cross}/layer_norm")
    out.layer_norm("model.decoder.layer_norm", "decoder/layer_norm")
    if not dims.tied_output:
        out.copy("proj_out.weight", "decoder/projection/weight")
    projection_bias = "decoder/projection/bias"
    if projection_bias in model:  # transformers' proj_out has no bias: only an all-zero one converts
        out.used.add(model.resolve(projection_bias))
        if np.any(model.array(projection_bias) != 0):
            raise ConfigError(f"{model.path}: '{projection_bias}' is not zero; transformers' Whisper output "
                              "projection has no bias")
    unused = sorted(name for name, var in model.variables.items() if var.shape != () and name not in out.used)
    if unused:
        raise ConfigError(f"{model.path}: variables this converter does not know how to map: "
                          f"{', '.join(unused[:8])}{' ...' if len(unused) > 8 else ''}")
    return out.tensors


# ----------------------------------------------------------------------------------------------
# Tokens, configs, processor


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def special_token_ids(tokenizer_file: Path) -> dict[str, int]:
    """``content -> id`` of the added (special) tokens of a tokenizers ``tokenizer.json``."""
    data = _load_json(tokenizer_file)
    added = data.get("added_tokens")
    if not isinstance(added, list):
        raise ConfigError(f"{tokenizer_file}: no 'added_tokens' list; not a Whisper tokenizer.json")
    return {token["content"]: int(token["id"]) for token in added if isinstance(token, dict) and "content" in token}


def _required_token(tokens: dict[str, int], content: str, tokenizer_file: Path) -> int:
    if content not in tokens:
        raise ConfigError(f"{tokenizer_file}: no '{content}' token; not a Whisper tokenizer")
    return tokens[content]


def whisper_generation_settings(dims: WhisperDims, ct2_config: dict, tokens: dict[str, int],
                                tokenizer_file: Path) -> dict:
    """The ``GenerationConfig`` fields transformers' Whisper ``generate`` needs (greedy by default).

    Token ids come from the tokenizer, the suppressed tokens and alignment heads from
    CTranslate2's config.json, the language tokens from its ``lang_ids`` (multilingual
    models only; an English-only model takes neither language nor task, as in
    transformers). ``task`` defaults to ``transcribe`` on multilingual models so that a
    call without ``language`` detects the language and transcribes.
    """
    eot = _required_token(tokens, EOT_TOKEN, tokenizer_file)
    settings: dict = {
        "decoder_start_token_id": _required_token(tokens, "<|startoftranscript|>", tokenizer_file),
        "bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot,
        "no_timestamps_token_id": _required_token(tokens, "<|notimestamps|>", tokenizer_file),
        "max_length": dims.max_target_positions,
        "max_initial_timestamp_index": _MAX_INITIAL_TIMESTAMP_INDEX,
        "num_beams": 1, "do_sample": False, "return_timestamps": False,
        "is_multilingual": dims.is_multilingual,
        "suppress_tokens": [int(i) for i in ct2_config.get("suppress_ids") or []],
        "begin_suppress_tokens": [int(i) for i in ct2_config.get("suppress_ids_begin") or []],
    }
    if "<|startofprev|>" in tokens:
        settings["prev_sot_token_id"] = tokens["<|startofprev|>"]
    heads = ct2_config.get("alignment_heads")
    if heads:
        settings["alignment_heads"] = [[int(layer), int(head)] for layer, head in heads]
    if dims.is_multilingual:
        by_id = {index: content for content, index in tokens.items()}
        lang_ids = ct2_config.get("lang_ids") or []
        if not lang_ids:
            raise ConfigError(f"a multilingual Whisper (vocabulary {dims.vocab_size}) whose config.json has no "
                              "'lang_ids'")
        lang_to_id = {}
        for index in lang_ids:
            content = by_id.get(int(index), "")
            if not re.fullmatch(r"<\|[a-z]{2,3}(_[A-Za-z]+)?\|>", content):
                raise ConfigError(f"config.json lang_ids has {index}, which is '{content}' in {tokenizer_file}, "
                                  "not a language token")
            lang_to_id[content] = int(index)
        settings["lang_to_id"] = lang_to_id
        settings["task_to_id"] = {task: _required_token(tokens, f"<|{task}|>", tokenizer_file)
                                  for task in ("transcribe", "translate")}
        settings["task"] = "transcribe"
    return settings


def whisper_config_kwargs(dims: WhisperDims, generation: dict, dtype: str) -> dict:
    """``WhisperConfig`` arguments: the architecture, the special tokens and the suppressed tokens.

    The suppressed tokens are repeated from the generation config, as in OpenAI's
    checkpoints on the Hub (``WhisperConfig``'s default ``begin_suppress_tokens`` are
    those of the English-only models).
    """
    return {
        "vocab_size": dims.vocab_size, "num_mel_bins": dims.n_mels, "d_model": dims.d_model,
        "encoder_layers": dims.encoder_layers, "decoder_layers": dims.decoder_layers,
        "encoder_attention_heads": dims.encoder_heads, "decoder_attention_heads": dims.decoder_heads,
        "encoder_ffn_dim": dims.encoder_ffn_dim, "decoder_ffn_dim": dims.decoder_ffn_dim,
        "max_source_positions": dims.max_source_positions, "max_target_positions": dims.max_target_positions,
        "activation_function": "gelu", "scale_embedding": False, "tie_word_embeddings": dims.tied_output,
        "pad_token_id": generation["pad_token_id"], "bos_token_id": generation["bos_token_id"],
        "eos_token_id": generation["eos_token_id"], "decoder_start_token_id": generation["decoder_start_token_id"],
        "suppress_tokens": generation["suppress_tokens"], "begin_suppress_tokens": generation["begin_suppress_tokens"],
        "architectures": ["WhisperForConditionalGeneration"], "dtype": dtype,
    }


def _special_tokens_in_order(tokens: dict[str, int], eot: str = EOT_TOKEN) -> list[str]:
    """The added tokens except ``<|endoftext|>``, by id (so that the last is ``<|notimestamps|>``)."""
    return [content for content, _ in sorted(tokens.items(), key=lambda item: item[1]) if content != eot]


def build_processor(ct2_dir: Path, n_mels: int, tokens: dict[str, int]):
    """``WhisperProcessor``: the model's tokenizer.json and a feature extractor with ``n_mels`` bins.

    A ``preprocessor_config.json`` beside the CTranslate2 model (faster-whisper's large-v3
    has one) gives the feature extractor settings; its ``feature_size`` must equal ``n_mels``.
    The added tokens are registered as the tokenizer's extra special tokens (in id order),
    as in OpenAI's checkpoints on the Hub, so that transformers finds where timestamp
    tokens begin (after the last special token). The pad token is ``<|endoftext|>``, as in
    OpenAI's tokenizers (faster-whisper's tokenizer.json names none, and transformers'
    ASR pipeline refuses to batch without one; the pad token is never generated).
    """
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizerFast

    tokenizer_file = ct2_dir / CT2_TOKENIZER_FILE
    try:
        tokenizer = WhisperTokenizerFast(tokenizer_file=str(tokenizer_file), pad_token=EOT_TOKEN,
                                         extra_special_tokens=_special_tokens_in_order(tokens, EOT_TOKEN))
    except Exception as err:  # tokenizers raises its own exception types for a bad file
        raise ConfigError(f"{tokenizer_file}: cannot load as a Whisper tokenizer ({err})") from None
    preprocessor = ct2_dir / "preprocessor_config.json"
    if preprocessor.is_file():
        extractor = WhisperFeatureExtractor.from_pretrained(str(ct2_dir))
        if extractor.feature_size != n_mels:
            raise ConfigError(f"{preprocessor}: feature_size {extractor.feature_size}, but the model's first "
                              f"convolution takes {n_mels} mel bins")
    else:
        extractor = WhisperFeatureExtractor(feature_size=n_mels)
    return WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer)


# ----------------------------------------------------------------------------------------------
# The converter


def check_ct2_whisper_dir(ct2_dir: str | os.PathLike) -> Path:
    """The directory as a resolved path once it holds model.bin, config.json and tokenizer.json."""
    ct2_dir = Path(ct2_dir).expanduser()
    if not ct2_dir.is_dir():
        raise ConfigError(f"CTranslate2 Whisper directory not found: {ct2_dir}")
    for name in (CT2_MODEL_FILE, CT2_CONFIG_FILE, CT2_TOKENIZER_FILE):
        if not (ct2_dir / name).is_file():
            raise ConfigError(f"{ct2_dir / name}: file not found; a CTranslate2 Whisper directory holds "
                              f"{CT2_MODEL_FILE}, {CT2_CONFIG_FILE} and {CT2_TOKENIZER_FILE} "
                              "(as written by ct2-transformers-converter --copy_files tokenizer.json)")
    return ct2_dir.resolve()


def _check_against_transformers(config, tensors: dict[str, np.ndarray]) -> None:
    """Every parameter of ``WhisperForConditionalGeneration(config)`` is present with its shape, nothing else."""
    import torch
    from transformers import WhisperForConditionalGeneration

    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    if config.tie_word_embeddings:
        expected.pop("proj_out.weight", None)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(name for name in set(expected) & set(tensors) if expected[name] != tensors[name].shape)
    if missing or unexpected or wrong:
        raise ConfigError(f"converted weights do not fit transformers' Whisper: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")


def write_hf_whisper(ct2_dir: Path, tmp_dir: Path, *, dtype: str = "float32") -> dict:
    """Write the transformers directory for the CTranslate2 Whisper in ``ct2_dir`` into ``tmp_dir``.

    Returns the provenance written to :data:`CONVERSION_FILE`.
    """
    from safetensors.numpy import save_file
    from transformers import GenerationConfig, WhisperConfig

    model = read_ct2_model(ct2_dir / CT2_MODEL_FILE)
    dims = whisper_dims(model)
    ct2_config = _load_json(ct2_dir / CT2_CONFIG_FILE)
    tokenizer_file = ct2_dir / CT2_TOKENIZER_FILE
    tokens = special_token_ids(tokenizer_file)
    generation = whisper_generation_settings(dims, ct2_config, tokens, tokenizer_file)
    config = WhisperConfig(**whisper_config_kwargs(dims, generation, dtype))
    tensors = ct2_to_hf_state_dict(model, dims, dtype)
    _check_against_transformers(config, tensors)
    processor = build_processor(ct2_dir, dims.n_mels, tokens)

    save_file(tensors, str(tmp_dir / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    config.save_pretrained(str(tmp_dir))
    GenerationConfig(**generation).save_pretrained(str(tmp_dir))
    processor.save_pretrained(str(tmp_dir))
    provenance = {"converter_version": CONVERTER_VERSION, "source": str(ct2_dir),
                  "model_bin_bytes": (ct2_dir / CT2_MODEL_FILE).stat().st_size,
                  "ct2_format_version": model.version, "spec": f"{model.spec} revision {model.revision}",
                  "dtype": dtype, "dims": dims.__dict__ | {"is_multilingual": dims.is_multilingual}}
    with open(tmp_dir / CONVERSION_FILE, "w", encoding="utf-8") as handle:
        json.dump(provenance, handle, indent=2)
        handle.write("\n")
    return provenance


def _make_readable(directory: Path) -> None:
    """Give a directory made by ``mkdtemp`` (mode 0700) and its files the usual umask permissions."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)


def publish_dir(tmp_dir: Path, out_dir: Path) -> None:
    """Move a finished ``tmp_dir`` to ``out_dir`` (same file system), replacing an older ``out_dir``.

    ``out_dir`` never holds a partial result: the rename is atomic, and an existing
    directory is first renamed aside, then removed. Permissions follow the umask
    (``mkdtemp`` makes private directories).
    """
    _make_readable(tmp_dir)
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, old / out_dir.name)
    os.replace(tmp_dir, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def convert_ct2_whisper(ct2_dir: str | os.PathLike, out_dir: str | os.PathLike, *, dtype: str = "float32") -> Path:
    """Convert a CTranslate2 Whisper directory to a transformers directory; returns ``out_dir``.

    ``ct2_dir`` holds ``model.bin``, ``config.json`` and ``tokenizer.json``. ``out_dir``
    loads with ``WhisperForConditionalGeneration.from_pretrained`` and
    ``WhisperProcessor.from_pretrained``. ``dtype`` float32 (the default, for CPU) or
    float16 (the stored precision of most CTranslate2 Whispers: both are exact copies of
    float16 weights). The result appears atomically; an earlier conversion in ``out_dir``
    is replaced, any other non-empty ``out_dir`` is refused.
    """
    source = check_ct2_whisper_dir(ct2_dir)
    out_dir = Path(out_dir).expanduser().absolute()
    if out_dir == source or source in out_dir.parents:
        raise ConfigError(f"output directory {out_dir} must not be the CTranslate2 directory or inside it")
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir())
                                                      and not (out_dir / CONVERSION_FILE).is_file())):
        raise ConfigError(f"output directory {out_dir} exists and is not an earlier conversion (no {CONVERSION_FILE}); "
                          "it would be replaced: remove it or choose another --out_dir")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        provenance = write_hf_whisper(source, tmp_dir, dtype=dtype)
        publish_dir(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    dims = provenance["dims"]
    logger.info("converted %s -> %s (d_model %d, %d+%d layers, %d mel bins, vocabulary %d, %s)", source, out_dir,
                dims["d_model"], dims["encoder_layers"], dims["decoder_layers"], dims["n_mels"], dims["vocab_size"],
                "multilingual" if dims["is_multilingual"] else "English-only")
    return out_dir

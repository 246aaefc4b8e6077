"""Inference precision: fp32, or bf16 autocast where the hardware runs bf16 fast.

Every inference entry point (toxicity scoring, emotion embeddings and attributes, text
posteriors, text embeddings) takes ``--precision auto|fp32|bf16``:

- ``fp32``: no autocast; outputs are bit-identical to a plain float32 run.
- ``bf16``: ``torch.autocast(device, dtype=torch.bfloat16)`` around the forward passes,
  whatever the hardware (on a CPU without native bf16 it is emulated and slow, but allowed).
- ``auto``: bf16 where it is fast, fp32 otherwise. On CUDA that is
  ``torch.cuda.is_bf16_supported()``; on a CPU it needs oneDNN's bf16 kernels
  (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) *and* native bf16 instructions
  (``amx_bf16`` or ``avx512_bf16`` in ``/proc/cpuinfo``): without them oneDNN emulates
  bf16 with AVX-512 conversions, which is no faster than fp32. The decision and its
  reason are logged.

Outputs are always returned as float32 (callers cast with ``.float()``), so the files
written do not depend on the precision's dtype, only on its rounding.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voxrecipes.errors import ConfigError

if TYPE_CHECKING:  # torch is imported where it is used, so that the CLIs' --help stays fast
    import torch

logger = logging.getLogger(__name__)

#: the values of every ``--precision`` option
PRECISIONS = ("auto", "fp32", "bf16")
#: the CLIs' default. ours: "auto" (bf16 where the CPU has amx_bf16/avx512_bf16 or the GPU supports it, else
#: fp32; issue 16) because bf16 inference is 2.1-2.3x faster on such CPUs at a small accuracy cost, measured in
#: BENCHMARKS.md "bf16 inference on the CPU": toxicity mAP -0.003 (0.8393 -> 0.8361, max score diff 0.028),
#: emotion macro-F1 unchanged (embedding cosine >= 0.9993). Pass --precision fp32 for bit-exact float32 runs.
DEFAULT_PRECISION = "auto"
#: /proc/cpuinfo flags of native bf16 arithmetic (Intel AMX tiles, AVX-512 BF16 dot products)
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class BF16Support:
    """Whether bf16 is fast on a device, and why (for the log)."""

    fast: bool
    reason: str


def _cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The ``flags`` of the first processor in ``cpuinfo``, or ``None`` where there is no such file (macOS, Windows)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return set(value.split())
    return None


def cpu_bf16_support(cpuinfo: Path = CPUINFO) -> BF16Support:
    """Whether this CPU runs bf16 matrix products natively through oneDNN."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if not torch.backends.mkldnn.is_available():
        return BF16Support(False, f"torch has no oneDNN (mkldnn) backend (cpu capability {capability})")
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return BF16Support(False, f"oneDNN reports no bf16 support on this CPU (cpu capability {capability})")
    flags = _cpu_flags(cpuinfo)
    if flags is None:
        return BF16Support(False, f"cannot read {cpuinfo} to check for native bf16 instructions "
                                  f"(cpu capability {capability})")
    native = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if not native:
        return BF16Support(False, f"no native bf16 instructions ({' or '.join(BF16_CPU_FLAGS)} not in "
                                  f"{cpuinfo}; cpu capability {capability}): oneDNN would emulate bf16")
    return BF16Support(True, f"native bf16 ({', '.join(native)}; cpu capability {capability})")


def bf16_support(device: str | torch.device) -> BF16Support:
    """Whether bf16 is fast on ``device`` (a CPU or a CUDA device)."""
    import torch

    kind = torch.device(device).type
    if kind == "cpu":
        return cpu_bf16_support()
    if kind == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return BF16Support(True, f"CUDA device {torch.cuda.get_device_name(torch.device(device))} supports bf16")
        return BF16Support(False, "CUDA bf16 is not supported here")
    return BF16Support(False, f"no bf16 detection for device type '{kind}'")


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """``"fp32"`` or ``"bf16"`` for ``--precision`` on ``device``; ``auto`` is decided here and logged."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        logger.info("inference precision %s on %s (asked for)", precision, device)
        return precision
    support = bf16_support(device)
    chosen = "bf16" if support.fast else "fp32"
    logger.info("inference precision auto -> %s on %s: %s", chosen, device, support.reason)
    return chosen


def autocast(precision: str, device: str | torch.device) -> contextlib.AbstractContextManager:
    """A context in which forward passes run at ``precision`` (already resolved: ``fp32`` or ``bf16``)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    raise ConfigError(f"autocast takes a resolved precision (fp32 or bf16), got {precision!r}")


@contextlib.contextmanager
def inference_precision(precision: str, device: str | torch.device) -> Iterator[str]:
    """Resolve ``precision`` for ``device`` (logged) and run the body under it; yields the resolved value."""
    resolved = resolve_precision(precision, device)
    with autocast(resolved, device):
        yield resolved


def add_precision_argument(parser) -> None:
    """Add ``--precision auto|fp32|bf16`` to an argparse parser."""
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="inference precision: fp32; bf16 autocast; auto = bf16 where the CPU (amx_bf16/"
                             "avx512_bf16) or GPU runs it natively, else fp32 (logged). Outputs are written as "
                             f"float32 (default: {DEFAULT_PRECISION})")

"""What the bench scripts record about the machine a run shares (CPU model, load)."""

from __future__ import annotations

import os
import platform


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages: other processes on the same cores slow small ops down (threads wait)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return cpu

"""What machine a benchmark ran on, stored with its results.

Speeds on these machines have differed by 2-4x between sessions (another CPU model, without
AVX-512, runs ONNX int8 several times slower), so a figure is read beside the CPU it came
from, and speeds are compared only within one run or back to back.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: Instruction-set extensions that change how fast the models and FAISS run.
SIMD = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512vnni", "avx_vnni",
        "amx_int8")


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """{"cpu": model name, "cores": usable cores, "simd": [extensions], "python": version}."""
    fields: dict[str, str] = {}
    try:  # the first processor's block: the others repeat it
        first = cpuinfo.read_text().strip().split("\n\n")[0]
        fields = {k.strip(): v.strip() for k, _, v in
                  (row.partition(":") for row in first.splitlines())}
    except OSError:  # not Linux: the model name from platform is what there is
        pass
    model = fields.get("model name") or platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores": cores, "simd": [f for f in SIMD if f in flags],
            "python": platform.python_version()}


def line(m: dict | None) -> str:
    """One line for a results table's heading (results from before this module say only
    how many cores)."""
    if not m or "cpu" not in m:
        return f"{(m or {}).get('cpus', 2)} CPU cores"
    simd = ", ".join(m.get("simd") or []) or "no AVX"
    return f"{m['cpu']}, {m.get('cores', '?')} cores ({simd})"

"""Where the ONNX models run: CPU or a CUDA GPU, and with how many threads.

One place opens every onnxruntime session, so the device choice (the `DEVICE` setting:
auto, cpu or cuda) means the same for the image and the text models. A GPU needs the
optional extra (`pip install ipscreen[gpu]`, onnxruntime-gpu) and a CUDA driver; when either
is missing the session runs on the CPU and says so once in the log, rather than failing a
service that can still answer (slower). "auto" takes the GPU when there is one, quietly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[Device, ...] = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

log = logging.getLogger("ipscreen.models")


@lru_cache
def cuda_available() -> bool:
    """Whether onnxruntime here can run on a CUDA GPU (onnxruntime-gpu and a driver)."""
    import onnxruntime as ort

    return CUDA in ort.get_available_providers()


@lru_cache
def _say_fallback(device: str) -> None:
    # once per process and device: every session would otherwise repeat it
    log.warning("DEVICE=%s asked for, but onnxruntime has no CUDA here (install "
                "ipscreen[gpu], onnxruntime-gpu, on a machine with an NVIDIA driver): the "
                "models run on the CPU", device)


@dataclass(frozen=True)
class Runtime:
    """How a model's session runs: threads (0: onnxruntime's default, all cores; CPU only)
    and the device asked for."""

    threads: int = 0
    device: Device = "cpu"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")

    @property
    def uses_cuda(self) -> bool:
        """Whether sessions opened by this runtime run on the GPU."""
        if self.device == "cpu":
            return False
        if cuda_available():
            return True
        if self.device == "cuda":
            _say_fallback(self.device)
        return False

    @property
    def providers(self) -> list[str]:
        return [CUDA, CPU] if self.uses_cuda else [CPU]

    def batch_size(self, cpu: int) -> int:
        """Images per model call: a GPU is only busy with many at once."""
        return max(cpu, 64) if self.uses_cuda else cpu

    def session(self, model: str | bytes, spin: bool = False) -> Any:
        """An onnxruntime InferenceSession for a model file path or serialised graph; `spin`
        keeps onnxruntime's default of pool threads that spin between runs."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads > 0:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        # onnxruntime's pool threads spin for a while after each run by default, taking the
        # cores that the index search runs on next: accurate profile at 10k works, 2 cores,
        # search 59 vs 39 ms per image with and without spinning, the model's own time the
        # same (171-177 vs 169-172 ms)
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(model, options, providers=self.providers)


#: The default: CPU, onnxruntime's own thread count.
ON_CPU = Runtime()

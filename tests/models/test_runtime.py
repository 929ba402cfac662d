"""Where the models run (models/runtime.py): DEVICE=cuda without a GPU falls back to the CPU
with one log line and the same descriptors; bad settings are refused."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pydantic import ValidationError

from models import runtime as rt
from models.runtime import Runtime, cuda_available
from models.sscd import SscdExtractor
from screening.settings import Settings

no_gpu = pytest.mark.skipif(cuda_available(), reason="this machine has a CUDA GPU")


@no_gpu
def test_cuda_asked_without_a_gpu_runs_on_cpu_and_says_so_once(photos, caplog):
    rt._say_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="ipscreen.models"):
        gpu = SscdExtractor("sscd_distilled", runtime=Runtime(threads=1, device="cuda"))
        SscdExtractor("sscd_distilled", runtime=Runtime(threads=1, device="cuda"))
    said = [r for r in caplog.records if "DEVICE=cuda" in r.getMessage()]
    assert len(said) == 1 and "run on the CPU" in said[0].getMessage()
    assert gpu._session.get_providers() == [rt.CPU]
    assert gpu.batch_size == 16  # the CPU's batch, not a GPU's
    cpu = SscdExtractor("sscd_distilled", runtime=Runtime(threads=1))
    imgs = [photos["astronaut"], photos["coffee"]]
    np.testing.assert_array_equal(gpu.extract(imgs), cpu.extract(imgs))


@no_gpu
def test_auto_without_a_gpu_is_the_cpu_quietly(caplog):
    rt._say_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="ipscreen.models"):
        auto = Runtime(device="auto")
        assert auto.providers == [rt.CPU] and not auto.uses_cuda
    assert not caplog.records


def test_bad_device_and_threads_are_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        Runtime(device="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads"):
        Runtime(threads=-1)
    with pytest.raises(ValidationError, match="device"):
        Settings(device="tpu")  # type: ignore[arg-type]
    s = Settings(device="auto", threads=3)
    assert s.runtime == Runtime(threads=3, device="auto")

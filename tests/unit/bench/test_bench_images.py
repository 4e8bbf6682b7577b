"""bench.images helpers: the RSS sampler and the report table (the measurement itself is `python -m bench.images`)."""

from __future__ import annotations

import os

from bench.images import RssSampler, render


def test_rss_sampler_reads_this_process() -> None:
    with RssSampler(os.getpid(), every_s=0.001).running() as sampler:
        blob = bytearray(8 * 1024 * 1024)  # touch 8 MiB while sampling
        blob[::4096] = b"x" * len(blob[::4096])
        while len(sampler.samples) < 3:
            pass
    assert sampler.peak >= min(sampler.samples) > 0


def test_render_shows_the_peak_over_idle() -> None:
    mib = 1024 * 1024
    run = {
        "images": 2,
        "reader": "full speed",
        "answer_bytes": 33_600_000,
        "seconds": 0.4,
        "rss_before_bytes": 82 * mib,
        "rss_peak_sampled_bytes": 90 * mib,
        "rss_after_bytes": 82 * mib,
        "vmhwm_before_bytes": 82 * mib,
        "vmhwm_after_bytes": 90 * mib,
        "samples": 10,
    }
    result = {
        "size": "2048x2048",
        "loops": {"uvloop": {"idle_rss_bytes": 82 * mib, "idle_vmhwm_bytes": 82 * mib, "runs": [run]}},
        "mock_idle_rss_bytes": 40 * mib,
        "mock_peak_vmhwm_bytes": 140 * mib,
    }
    table = render(result)
    assert "| 2 × 2048x2048 = 33.6 MB | full speed | 0.40 s | 82.0 MiB | 90.0 MiB | +8.0 MiB | 90.0 MiB |" in table
    assert "grew by 100 MiB" in table

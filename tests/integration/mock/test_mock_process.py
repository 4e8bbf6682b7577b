"""The runner (`python -m tollway_local.mock`) as a subprocess, as the benchmark and the local stack start it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from tollway_local.mock import MockConfig, MockProcess, expected_usage

pytestmark = pytest.mark.integration


def test_process_reports_ready_and_serves_chat() -> None:
    config = MockConfig.fast(api_key="sk-proc", default_completion_tokens=5)
    with MockProcess(config) as proc, httpx.Client(trust_env=False, timeout=10.0) as client:
        assert proc.url.startswith("http://127.0.0.1:")
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        response = client.post(f"{proc.base_url}/chat/completions", json=body, headers={"api-key": "sk-proc"})
        assert response.status_code == 200
        assert response.json()["usage"] == expected_usage(body, default_completion_tokens=5)
        assert client.post(f"{proc.base_url}/chat/completions", json=body, headers={"api-key": "x"}).status_code == 401
        assert proc.stats()["requests"] == {"/v1/chat/completions": 2}
        pid = proc.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU pinning is Linux-only")
def test_process_can_be_pinned_to_a_cpu() -> None:
    cpu = min(os.sched_getaffinity(0))
    with MockProcess(cpus=[cpu]) as proc:
        assert os.sched_getaffinity(proc.pid) == {cpu}


def test_runner_prints_one_ready_json_line() -> None:
    argv = [sys.executable, "-m", "tollway_local.mock", "--host", "127.0.0.1", "--port", "0", "--latency-ms", "0"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as runner:
        try:
            assert runner.stdout is not None
            ready = json.loads(runner.stdout.readline())
            assert set(ready) == {"ready", "url"}
            assert ready["ready"] is True
            assert httpx.get(f"{ready['url']}/_mock/stats", trust_env=False).json()["requests_total"] == 0
        finally:
            runner.terminate()
            runner.wait(timeout=10)
        assert runner.stdout.read() == ""

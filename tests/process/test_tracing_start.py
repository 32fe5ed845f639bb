"""`otlp_endpoint` set without the `otel` extra installed: `serve` and `worker` stop at start
with exit status 2 and say what to install, instead of starting without the spans asked for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import run_hookline


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_otlp_endpoint_without_the_extra_stops_the_start(env, settings, tmp_path, command):
    # OpenTelemetry is a namespace package: a regular `opentelemetry` package earlier on the
    # path hides every installed part of it, as if none were installed.
    (tmp_path / "without-otel" / "opentelemetry").mkdir(parents=True)
    (tmp_path / "without-otel" / "opentelemetry" / "__init__.py").write_text("")
    path = os.pathsep.join(filter(None, [str(tmp_path / "without-otel"), env.get("PYTHONPATH")]))
    env = {**env, "PYTHONPATH": path, "HOOKLINE_OTLP_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}
    result = run_hookline([command], env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert ("hookline: configuration error: otlp_endpoint (HOOKLINE_OTLP_ENDPOINT) is set, but OpenTelemetry is "
            "not installed (opentelemetry.sdk is missing): pip install 'hookline[otel]', or unset otlp_endpoint"
            ) in result.stderr
    assert not Path(settings.database_url.removeprefix("sqlite:///")).exists(), "it stopped before opening the database"

"""The local stack publishes no metrics (POWERTOOLS_METRICS_DISABLED): what the handlers record
is dropped after each invocation, so Powertools' automatic flush at 100 values never prints EMF
documents into the demo's or the benchmark's output."""

from __future__ import annotations

import pytest

from infra.local.lambdas import _drop_unpublished_metrics


def test_metrics_recorded_by_invocations_are_dropped_not_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "hris-sync-test")
    _drop_unpublished_metrics()
    for _ in range(3):  # three invocations of 60 values: 180 in all, over Powertools' 100
        for _ in range(60):
            Metrics().add_metric(name="MembersCreated", unit=MetricUnit.Count, value=1)
        _drop_unpublished_metrics()
    assert capsys.readouterr().out == ""

    for _ in range(100):  # without dropping them, the 100th value prints despite the switch
        Metrics().add_metric(name="MembersCreated", unit=MetricUnit.Count, value=1)
    assert '"MembersCreated"' in capsys.readouterr().out
    _drop_unpublished_metrics()

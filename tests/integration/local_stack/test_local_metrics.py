"""The local stack publishes no metrics (POWERTOOLS_METRICS_DISABLED): Powertools' automatic flush
at 100 values of one metric must not print EMF documents into the demo's or the benchmark's
output, while its values are still cleared (memory stays bounded)."""

from __future__ import annotations

import pytest

from infra.local.lambdas import quiet_disabled_metrics


def test_metrics_piling_up_while_disabled_print_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    quiet_disabled_metrics()
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "hris-sync-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = Metrics()
    metrics.clear_metrics()
    for _ in range(150):  # over Powertools' 100: its automatic flush runs once
        metrics.add_metric(name="MembersCreated", unit=MetricUnit.Count, value=1)
    assert capsys.readouterr().out == ""
    assert len(metrics.metric_set["MembersCreated"]["Value"]) == 50  # the first 100 were cleared

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # enabled: printed as before
    for _ in range(50):
        metrics.add_metric(name="MembersCreated", unit=MetricUnit.Count, value=1)
    assert '"MembersCreated"' in capsys.readouterr().out
    metrics.clear_metrics()

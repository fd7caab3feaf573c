"""A metric with one extra dimension (verdict, action status) per data point.

Powertools' `Metrics` flushes every metric of an invocation with the same dimensions, but a
batch holds incidents of different verdicts; `single_metric` emits one data point with its
own dimension. It does not honour POWERTOOLS_METRICS_DISABLED (Metrics does), so this
wrapper does, keeping local runs and tests quiet."""

from __future__ import annotations

from aws_lambda_powertools import single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

NAMESPACE = "credfix"


def count_by(name: str, *, service: str, dimension: str, value: str, count: int = 1) -> None:
    if is_metrics_disabled():
        return
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=count,
        namespace=NAMESPACE,
        default_dimensions={"service": service},
    ) as metric:
        metric.add_dimension(name=dimension, value=value)

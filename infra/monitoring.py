"""Operations: alarms to the operations topic, and a dashboard, from the Lambdas' own
Powertools metrics (EMF, namespace `credfix`, dimension `service`)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

NAMESPACE = "credfix"
PERIOD = Duration.minutes(5)


def metric(service: str, name: str, statistic: str = "Sum") -> cw.Metric:
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=PERIOD,
    )


def by_dimension(service: str, name: str, dimension: str, label: str) -> cw.MathExpression:
    """One line per value of `dimension` (e.g. per verdict), found with a metrics SEARCH."""
    return cw.MathExpression(
        expression=f'SEARCH(\'{{{NAMESPACE},service,{dimension}}} service="{service}" '
        f"MetricName=\"{name}\"', 'Sum', 300)",
        label=label,
        period=PERIOD,
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        functions: dict[str, lambda_.Function],
        dead_letter_queues: dict[str, sqs.Queue],
        stuck_after: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(construct_id: str, m: cw.IMetric, description: str, threshold: float = 1) -> None:
            a = cw.Alarm(
                self,
                construct_id,
                metric=m,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            a.add_alarm_action(action)
            self.alarms.append(a)

        for name, queue in dead_letter_queues.items():
            alarm(
                f"{name.title()}DlqDepth",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"credfix: messages in the {name} DLQ (set aside with a reason, or out of retries)",
            )
        for name, fn in functions.items():
            alarm(f"{name.title()}Errors", fn.metric_errors(period=PERIOD), f"credfix {name}: Lambda errors")
            alarm(
                f"{name.title()}Throttles", fn.metric_throttles(period=PERIOD), f"credfix {name}: throttled"
            )
        alarm(
            "Escalations",
            metric("verify", "VerificationEscalated"),
            "credfix: a remediated workload kept failing",
        )
        alarm(
            "CircuitBreakerOpen", metric("act", "BreakerOpen"), "credfix: enforcement stopped after failures"
        )
        # The sweep measures the oldest incident still open without a verdict, every run.
        oldest_open = metric("sweep", "OldestOpenIncidentAgeSeconds", "Maximum")
        alarm(
            "IncidentStuckOpen",
            oldest_open,
            f"credfix: an incident has been open without a verdict for over {stuck_after.to_minutes()} min "
            "(announced again by the sweep and still not triaged: see the work DLQ, `credfix redrive`)",
            threshold=stuck_after.to_seconds(),
        )

        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name="credfix")
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Credential failures ingested",
                left=[
                    metric("ingest", "EventsAccepted"),
                    metric("ingest", "EventsRejected"),
                    metric("ingest", "EventsDuplicate"),
                ],
                width=12,
            ),
            cw.GraphWidget(title="Incidents opened", left=[metric("ingest", "IncidentsOpened")], width=12),
            cw.GraphWidget(
                title="Incidents by verdict",
                left=[by_dimension("triage", "IncidentsTriaged", "verdict", "verdict")],
                width=8,
            ),
            cw.GraphWidget(
                title="Actions by status",
                left=[by_dimension("act", "Actions", "status", "status")],
                width=8,
            ),
            cw.GraphWidget(
                title="Verification outcomes",
                left=[metric("verify", "VerificationVerified"), metric("verify", "VerificationEscalated")],
                width=8,
            ),
            cw.GraphWidget(title="Oldest incident open without a verdict (s)", left=[oldest_open], width=12),
            cw.GraphWidget(
                title="Incidents announced again by the sweep",
                left=[metric("sweep", "IncidentsReannounced")],
                width=12,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24),
        )

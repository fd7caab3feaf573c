"""The home stack: detection rule -> events queue -> ingest -> incidents table -> work queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS
from infra.detection import credential_failure_rule
from infra.functions import CredfixFunctions

INGEST_TIMEOUT = Duration.seconds(60)
INGEST_BATCH_SIZE = 1000
INGEST_BATCH_WINDOW = Duration.seconds(10)
MAX_RECEIVES = 5  # then the redrive policy moves a message to its DLQ


class HomeStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, include_expired_token: bool = False, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]

        self.key = kms.Key(
            self,
            "Key",
            description="credfix: encrypts its queues and incidents table",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,  # the retained table stays readable
        )
        # EventBridge must be able to write to the encrypted events queue.
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal("events.amazonaws.com"))

        self.events_dlq = self._queue("EventsDlq", retention=Duration.days(14))
        self.events_queue = self._queue(
            "EventsQueue",
            visibility_timeout=Duration.seconds(INGEST_TIMEOUT.to_seconds() * 6),
            dead_letter=self.events_dlq,
        )
        self.work_dlq = self._queue("WorkDlq", retention=Duration.days(14))
        self.work_queue = self._queue(
            "WorkQueue", visibility_timeout=Duration.minutes(6), dead_letter=self.work_dlq
        )

        self.table = dynamodb.TableV2(
            self,
            "Incidents",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at",
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(self.key),
            removal_policy=RemovalPolicy.RETAIN,  # the audit trail outlives the stack
            deletion_protection=True,
        )

        error_codes = CREDENTIAL_ERRORS + (TEMPORARY_CREDENTIAL_ERRORS if include_expired_token else ())
        self.rule = credential_failure_rule(
            self,
            "CredentialFailures",
            error_codes=error_codes,
            description="credfix: CloudTrail records of AWS calls rejected for their credentials",
        )
        self.rule.add_target(
            targets.SqsQueue(self.events_queue, dead_letter_queue=self.events_dlq, retry_attempts=10)
        )

        functions = CredfixFunctions(self, "Functions", key=self.key)
        self.ingest = functions.function(
            "ingest",
            resources={
                "incidents-table": [self.table.table_arn],
                "work-queue": [self.work_queue.queue_arn],
                "events-dlq": [self.events_dlq.queue_arn],
            },
            environment={
                "CREDFIX_TABLE": self.table.table_name,
                "CREDFIX_WORK_QUEUE_URL": self.work_queue.queue_url,
                "CREDFIX_EVENTS_DLQ_URL": self.events_dlq.queue_url,
                "CREDFIX_INCLUDE_EXPIRED_TOKEN": str(include_expired_token).lower(),
            },
            timeout=INGEST_TIMEOUT,
            memory_size=512,
            reserved_concurrency=5,  # a storm needs throughput per batch, not many writers
        )
        self.ingest.add_event_source(
            sources.SqsEventSource(
                self.events_queue,
                batch_size=INGEST_BATCH_SIZE,
                max_batching_window=INGEST_BATCH_WINDOW,
                report_batch_item_failures=True,
                max_concurrency=5,
            )
        )

    def _queue(
        self,
        construct_id: str,
        *,
        retention: Duration | None = None,
        visibility_timeout: Duration | None = None,
        dead_letter: sqs.IQueue | None = None,
    ) -> sqs.Queue:
        return sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=retention or Duration.days(4),
            visibility_timeout=visibility_timeout or Duration.seconds(30),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter, max_receive_count=MAX_RECEIVES)
            if dead_letter
            else None,
        )

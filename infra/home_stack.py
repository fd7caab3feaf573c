"""The home stack: detection rule -> events queue -> ingest -> incidents table -> work queue
-> triage -> act queue -> act -> alerts topic + verify queue (delayed) -> verify; and the
sweep (scheduled) that announces again an incident left open without a verdict."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from credfix.core.remediate.model import SSM_DOCUMENT_NAME
from credfix.models.cloudtrail import CREDENTIAL_ERRORS, TEMPORARY_CREDENTIAL_ERRORS
from credfix.scopes import home_scopes
from infra.command_document import command_document
from infra.config import CredfixConfig
from infra.detection import credential_failure_rule
from infra.eks import EksAccessEntries
from infra.forwarder_stacks import home_role_name
from infra.functions import CredfixFunctions
from infra.logs import HomeLogSignal, account_policy, intake_dead_letter_target, relay_rule
from infra.monitoring import Monitoring
from infra.nag import acknowledge
from infra.policy import Scope, deny_statements
from infra.queue_target import SourceBoundQueue
from infra.rotation import ROTATION_BATCH_SIZE, ROTATION_BATCH_WINDOW_SECONDS, rotation_rules
from infra.scopes import member_role_scopes, workload_scopes

INGEST_TIMEOUT = Duration.seconds(60)
INGEST_BATCH_SIZE = 1000
INGEST_BATCH_WINDOW = Duration.seconds(10)
STEP_TIMEOUT = Duration.seconds(120)  # triage, act, verify: a handful of AWS calls per incident
MAX_RECEIVES = 5  # then the redrive policy moves a message to its DLQ
CENTRAL_BUS_NAME = "credfix-central"
# From measured peak RSS (bench/, docs/performance.md: ingest 79 MB on a storm, triage 132,
# act 109, verify 70) with headroom; ingest a little more, as Lambda CPU grows with memory.
MEMORY_MB = {
    "ingest": 256,
    "triage": 256,
    "act": 256,
    "verify": 128,
    "sweep": 256,
    "logs": 256,
    "rotation": 256,
}
SWEEP_EVERY = Duration.minutes(5)
SWEEP_TIMEOUT = Duration.seconds(300)  # a scan of the incidents table, a few messages
# Fixed names: the key's grant to EventBridge is bound to these queues by ARN (_key_grants).
EVENTS_QUEUE_NAME = "credfix-events"
EVENTS_DLQ_NAME = "credfix-events-dlq"
LOG_EVENTS_QUEUE_NAME = "credfix-log-events"  # relayed runtime-log lines (log_signal)
LOG_EVENTS_DLQ_NAME = "credfix-log-events-dlq"
ROTATION_QUEUE_NAME = "credfix-rotation"
ROTATION_DLQ_NAME = "credfix-rotation-dlq"


def error_codes(config: CredfixConfig) -> tuple[str, ...]:
    return CREDENTIAL_ERRORS + (TEMPORARY_CREDENTIAL_ERRORS if config.include_expired_token else ())


class HomeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: CredfixConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        self.key = kms.Key(
            self,
            "Key",
            description="credfix: encrypts its queues, topics and incidents table",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,  # the retained table stays readable
        )
        self._key_grants()

        self.events_dlq = self._queue("EventsDlq", retention=Duration.days(14), name=EVENTS_DLQ_NAME)
        self.events_queue = self._queue(
            "EventsQueue",
            visibility_timeout=Duration.seconds(INGEST_TIMEOUT.to_seconds() * 6),
            dlq=self.events_dlq,
            name=EVENTS_QUEUE_NAME,
        )
        self.work_dlq = self._queue("WorkDlq", retention=Duration.days(14))
        self.work_queue = self._queue("WorkQueue", visibility_timeout=self._visibility(), dlq=self.work_dlq)
        # Triage's second lane: incidents no source of which is attributed to the account.
        self.bulk_dlq = self._queue("BulkDlq", retention=Duration.days(14))
        self.bulk_queue = self._queue("BulkQueue", visibility_timeout=self._visibility(), dlq=self.bulk_dlq)
        self.act_dlq = self._queue("ActDlq", retention=Duration.days(14))
        self.act_queue = self._queue("ActQueue", visibility_timeout=self._visibility(), dlq=self.act_dlq)
        # act's second lane: incidents triaged on the bulk lane (nothing attributed to change).
        self.act_bulk_dlq = self._queue("ActBulkDlq", retention=Duration.days(14))
        self.act_bulk_queue = self._queue(
            "ActBulkQueue", visibility_timeout=self._visibility(), dlq=self.act_bulk_dlq
        )
        self.verify_dlq = self._queue("VerifyDlq", retention=Duration.days(14))
        self.verify_queue = self._queue(
            "VerifyQueue", visibility_timeout=self._visibility(), dlq=self.verify_dlq
        )
        # The rotation watch (infra/rotation.py): Secrets Manager events of rotations.
        self.rotation_dlq = self._queue("RotationDlq", retention=Duration.days(14), name=ROTATION_DLQ_NAME)
        self.rotation_queue = self._queue(
            "RotationQueue",
            visibility_timeout=self._visibility(),
            dlq=self.rotation_dlq,
            name=ROTATION_QUEUE_NAME,
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

        self.alerts_topic = sns.Topic(
            self, "Alerts", display_name="credfix alerts", master_key=self.key, enforce_ssl=True
        )
        self.ops_topic = sns.Topic(
            self, "Operations", display_name="credfix operations", master_key=self.key, enforce_ssl=True
        )
        self._subscribe()
        self.chat_topic = self._chat() if config.chat.wanted else None

        self.kill_switch = ssm.StringParameter(
            self,
            "KillSwitch",
            parameter_name=config.kill_switch_parameter,
            string_value="off",
            description="credfix: set to 'on' to force observe mode at run time (no redeploy)",
        )

        self.rule = credential_failure_rule(
            self,
            "CredentialFailures",
            error_codes=error_codes(config),
            description="credfix: CloudTrail records of AWS calls rejected for their credentials",
        )
        self.rule.add_target(
            SourceBoundQueue(self.events_queue, dead_letter_queue=self.events_dlq, retry_attempts=10)
        )
        for rule in rotation_rules(self, "RotationWatch"):
            rule.add_target(
                SourceBoundQueue(self.rotation_queue, dead_letter_queue=self.rotation_dlq, retry_attempts=10)
            )
        self.central_bus: events.EventBus | None = None
        if config.org.enabled:
            self._central_bus()
        if config.create_trail:
            self._trail()
        if config.ssm_command:
            command_document(self, config.ssm_command)

        self.functions = CredfixFunctions(
            self, "Functions", key=self.key, layer_arn=config.powertools_layer_arn
        )
        self.ingest = self._ingest()
        self.triage = self._step("triage", self.work_queue, memory_size=MEMORY_MB["triage"])
        self.triage.add_event_source(
            sources.SqsEventSource(
                self.bulk_queue, batch_size=10, report_batch_item_failures=True, max_concurrency=2
            )
        )
        self.act = self._step("act", self.act_queue, memory_size=MEMORY_MB["act"], reserved_concurrency=4)
        self.act.add_event_source(
            sources.SqsEventSource(
                self.act_bulk_queue, batch_size=10, report_batch_item_failures=True, max_concurrency=2
            )
        )
        self.verify = self._step("verify", self.verify_queue, memory_size=MEMORY_MB["verify"])
        self.rotation = self._step(
            "rotation",
            self.rotation_queue,
            memory_size=MEMORY_MB["rotation"],
            batch_size=ROTATION_BATCH_SIZE,
            batching_window=Duration.seconds(ROTATION_BATCH_WINDOW_SECONDS),
        )
        self.sweep = self._sweep()
        self.log_signal = self._log_signal() if config.log_signal.enabled else None
        log_signal = self.log_signal
        self._guard_own_functions()
        if config.eks.clusters:
            assert self.triage.role is not None and self.act.role is not None
            EksAccessEntries(self, "EksAccess", access=config.eks, triage=self.triage.role, act=self.act.role)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            topic=self.ops_topic,
            functions={
                "ingest": self.ingest,
                "triage": self.triage,
                "act": self.act,
                "verify": self.verify,
                "sweep": self.sweep,
                "rotation": self.rotation,
            }
            | ({"logs": log_signal.intake} if log_signal else {}),
            stuck_after=Duration.minutes(config.stuck_alarm_minutes),
            dead_letter_queues={
                "events": self.events_dlq,
                "work": self.work_dlq,
                "bulk": self.bulk_dlq,
                "act": self.act_dlq,
                "act-bulk": self.act_bulk_dlq,
                "verify": self.verify_dlq,
                "rotation": self.rotation_dlq,
            }
            | (log_signal.dead_letter_queues if log_signal else {}),
        )
        CfnOutput(self, "AlertsTopicArn", value=self.alerts_topic.topic_arn)
        CfnOutput(self, "IncidentsTableName", value=self.table.table_name)
        CfnOutput(self, "KillSwitchParameter", value=self.kill_switch.parameter_name)
        # What the day-two verbs (`credfix targets`) need to know of the guardrails as deployed.
        CfnOutput(
            self,
            "OperatorSettings",
            value=json.dumps(
                {
                    "target_cooldown_seconds": config.target_cooldown_minutes * 60,
                    "breaker_failures": config.breaker_failures,
                    "block_seconds": config.block_days * 86400,
                },
                separators=(",", ":"),
            ),
        )
        # `credfix doctor --eks-cluster` checks these roles' access entries.
        for label, fn in (("TriageRoleArn", self.triage), ("ActRoleArn", self.act)):
            assert fn.role is not None
            CfnOutput(self, label, value=fn.role.role_arn)

    # -- wiring ---------------------------------------------------------------------------

    def _visibility(self) -> Duration:
        return Duration.seconds(STEP_TIMEOUT.to_seconds() * 6)

    def lambda_environment(self) -> dict[str, str]:
        """Every Lambda gets the same settings (credfix.config.Settings reads them)."""
        c = self.config
        return {
            "CREDFIX_TABLE": self.table.table_name,
            "CREDFIX_WORK_QUEUE_URL": self.work_queue.queue_url,
            "CREDFIX_BULK_QUEUE_URL": self.bulk_queue.queue_url,
            "CREDFIX_ACT_QUEUE_URL": self.act_queue.queue_url,
            "CREDFIX_ACT_BULK_QUEUE_URL": self.act_bulk_queue.queue_url,
            "CREDFIX_VERIFY_QUEUE_URL": self.verify_queue.queue_url,
            "CREDFIX_EVENTS_DLQ_URL": self.events_dlq.queue_url,
            "CREDFIX_ROTATION_DLQ_URL": self.rotation_dlq.queue_url,
            "CREDFIX_TOPIC_ARN": self.alerts_topic.topic_arn,
            "CREDFIX_CHAT_TOPIC_ARN": self.chat_topic.topic_arn if self.chat_topic else "",
            "CREDFIX_DOCS_BASE_URL": c.docs_base_url,
            "CREDFIX_REOPEN_AFTER_SECONDS": str(c.reopen_after_minutes * 60),
            "CREDFIX_INCLUDE_EXPIRED_TOKEN": str(c.include_expired_token).lower(),
            "CREDFIX_WATCH_PREFIXES": ",".join(c.watch_prefixes),
            "CREDFIX_WATCH_UNTAGGED": str(c.watch_untagged).lower(),
            "CREDFIX_RUNNER_TAGS": ",".join(c.runner_tags),
            "CREDFIX_SCAN_LIMIT": str(c.scan_limit),
            "CREDFIX_MODE": c.mode,
            "CREDFIX_KILL_SWITCH_PARAMETER": c.kill_switch_parameter,
            "CREDFIX_TARGET_COOLDOWN_SECONDS": str(c.target_cooldown_minutes * 60),
            "CREDFIX_MAX_ACTIONS_PER_HOUR": str(c.max_actions_per_hour),
            "CREDFIX_MAX_ACTIONS_PER_KEY_PER_HOUR": str(c.max_actions_per_key_per_hour),
            "CREDFIX_BLOCK_SECONDS": str(c.block_days * 86400),
            "CREDFIX_MAX_NEW_INCIDENTS_PER_SOURCE": str(c.max_new_incidents_per_source),
            "CREDFIX_MAX_NEW_INCIDENTS": str(c.max_new_incidents),
            "CREDFIX_BREAKER_FAILURES": str(c.breaker_failures),
            "CREDFIX_RESTART_ON_KEY_LIFECYCLE": str(c.restart_on_key_lifecycle).lower(),
            "CREDFIX_SSM_DOCUMENT": SSM_DOCUMENT_NAME if c.ssm_command else "",
            "CREDFIX_DRAIN_SECONDS": str(c.drain_minutes * 60),
            "CREDFIX_REANNOUNCE_AFTER_SECONDS": str(c.reannounce_after_minutes * 60),
            "CREDFIX_MAX_REANNOUNCEMENTS": str(c.max_reannouncements),
            "CREDFIX_MEMBER_READ_ROLE_NAME": c.org.member_read_role_name if c.org.enabled else "",
            "CREDFIX_MEMBER_ACT_ROLE_NAME": c.org.member_act_role_name if c.org.enabled else "",
            "CREDFIX_MEMBER_ROTATION_ROLE_NAME": c.org.member_rotation_role_name if c.org.enabled else "",
        }

    def home_resources(self) -> dict[str, str]:
        """This stack's resources by the kind the code names them (`${credfix:KIND}` in
        `credfix permissions`)."""
        return {
            "incidents-table": self.table.table_arn,
            "events-dlq": self.events_dlq.queue_arn,
            "work-queue": self.work_queue.queue_arn,
            "bulk-queue": self.bulk_queue.queue_arn,
            "act-queue": self.act_queue.queue_arn,
            "act-bulk-queue": self.act_bulk_queue.queue_arn,
            "verify-queue": self.verify_queue.queue_arn,
            "rotation-dlq": self.rotation_dlq.queue_arn,
            "alerts-topic": self.alerts_topic.topic_arn,
            "alerts-topic-key": self.key.key_arn,
            "kill-switch-parameter": self.kill_switch.parameter_arn,
            "home-stack": self.stack_id,
        }

    def scopes(self) -> dict[str, list[Scope]]:
        """Resource kinds named by the code's `@needs` declarations -> IAM scopes."""
        chat_topics = [self.chat_topic.topic_arn] if self.chat_topic else []
        return {
            **home_scopes(self.home_resources()),
            # credfix's alert topics: the alerts topic, and the chat topic when deployed.
            "alerts-topic": [Scope((self.alerts_topic.topic_arn, *chat_topics))],
            "member-roles": member_role_scopes(self.config),
            **workload_scopes(self.config),
        }

    def _key_grants(self) -> None:
        """The service principals that use credfix's key, each bound to what it serves.

        EventBridge delivers to the events queue and the rotation queue (and their dead-letter
        queues). A key policy
        cannot bind EventBridge's deliveries with aws:SourceArn/aws:SourceAccount (AWS says
        these are not supported for EventBridge to an encrypted target, and delivery then
        fails); SQS puts the queue's ARN in the encryption context of every data key it asks
        for on a sender's behalf, so the grant is bound to credfix's two queues by that. The
        queues have fixed names for it: an ARN read from the queues would make the key depend
        on the queues that depend on it. CloudWatch alarms publish to the operations topic:
        bound to alarms of this account."""
        names = [EVENTS_QUEUE_NAME, EVENTS_DLQ_NAME, ROTATION_QUEUE_NAME, ROTATION_DLQ_NAME]
        if self.config.log_signal.enabled:  # relayed runtime-log lines come through EventBridge too
            names += [LOG_EVENTS_QUEUE_NAME, LOG_EVENTS_DLQ_NAME]
        own_queues = [f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:{Aws.ACCOUNT_ID}:{name}" for name in names]
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeliversToTheEventsQueue",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"kms:EncryptionContext:aws:sqs:arn": own_queues}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheOperationsTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )

    def _sweep(self) -> lambda_.Function:
        """Every SWEEP_EVERY: incidents open without a verdict past the bound are announced to
        triage again, and the age of the oldest open incident is a metric (the alarm's)."""
        fn = self.functions.function(
            "sweep",
            scopes=self.scopes(),
            environment=self.lambda_environment(),
            timeout=SWEEP_TIMEOUT,
            memory_size=MEMORY_MB["sweep"],
            # No reserved concurrency: two overlapping runs announce each incident once anyway
            # (the claim is conditional), and reservations eat into the account's pool.
        )
        schedule = events.Rule(
            self,
            "Sweep",
            description="credfix: announce again the incidents left open without a verdict",
            schedule=events.Schedule.rate(SWEEP_EVERY),
        )
        schedule.add_target(targets.LambdaFunction(fn, retry_attempts=0))  # the next run retries
        return fn

    def _guard_own_functions(self) -> None:
        """The act role may never touch credfix's own functions (they also carry
        credfix:remediate=false, which its tag conditions exclude), nor attach a layer to any.
        A policy of its own: the functions' ARNs in the act role's main policy would make the
        act function depend on itself."""
        own = [fn.function_arn for fn in self.functions.made.values()]
        act_role = self.act.role
        assert act_role is not None
        iam.Policy(self, "ActGuard", roles=[act_role], statements=deny_statements("act", own))

    def _ingest(self) -> lambda_.Function:
        fn = self.functions.function(
            "ingest",
            scopes=self.scopes(),
            environment=self.lambda_environment(),
            timeout=INGEST_TIMEOUT,
            memory_size=MEMORY_MB["ingest"],
            reserved_concurrency=5,  # a storm needs throughput per batch, not many writers
        )
        fn.add_event_source(
            sources.SqsEventSource(
                self.events_queue,
                batch_size=INGEST_BATCH_SIZE,
                max_batching_window=INGEST_BATCH_WINDOW,
                report_batch_item_failures=True,
                max_concurrency=5,
            )
        )
        return fn

    def _log_signal(self) -> HomeLogSignal:
        """Opt-in: the workloads' own logs (infra/logs.py). Made after every other function, so
        that the account policy excludes all of credfix's own log groups."""
        direct_dlq = self._queue("LogsDlq", retention=Duration.days(14))
        relayed_dlq = self._queue("LogEventsDlq", retention=Duration.days(14), name=LOG_EVENTS_DLQ_NAME)
        queue = self._queue(
            "LogEventsQueue",
            visibility_timeout=Duration.seconds(INGEST_TIMEOUT.to_seconds() * 6),
            dlq=relayed_dlq,
            name=LOG_EVENTS_QUEUE_NAME,
        )
        intake = self.functions.function(
            "logs",
            scopes=self.scopes(),
            environment=self.lambda_environment(),
            timeout=INGEST_TIMEOUT,
            memory_size=MEMORY_MB["logs"],
            reserved_concurrency=5,
        )
        intake.add_event_source(
            sources.SqsEventSource(queue, batch_size=10, report_batch_item_failures=True, max_concurrency=2)
        )
        intake_dead_letter_target(intake, direct_dlq)
        target = targets.SqsQueue(queue, dead_letter_queue=relayed_dlq, retry_attempts=10)
        relay_rule(self, "RelayedLogLines").add_target(target)
        if self.central_bus is not None:
            relay_rule(self, "OrganisationRelayedLogLines", self.central_bus).add_target(target)
        account_policy(
            self,
            "LogSignalPolicy",
            destination=intake,
            config=self.config,
            own_groups=self.functions.log_groups,
        )
        return HomeLogSignal(intake, queue, {"logs": direct_dlq, "log-events": relayed_dlq})

    def _step(
        self,
        role: Any,
        queue: sqs.Queue,
        *,
        memory_size: int,
        reserved_concurrency: int | None = None,
        batch_size: int = 10,
        batching_window: Duration | None = None,
    ) -> lambda_.Function:
        org = self.config.org.enabled
        fn = self.functions.function(
            role,
            scopes=self.scopes(),
            environment=self.lambda_environment(),
            timeout=STEP_TIMEOUT,
            memory_size=memory_size,
            reserved_concurrency=reserved_concurrency,
            # Member roles trust these names; outside org mode nothing may be assumed at all.
            fixed_role_name=home_role_name(role, self.config) if org else None,
            exclude_kinds=frozenset() if org else frozenset({"member-roles"}),
        )
        fn.add_event_source(
            sources.SqsEventSource(
                queue,
                batch_size=batch_size,
                max_batching_window=batching_window,
                report_batch_item_failures=True,
                max_concurrency=2,
            )
        )
        return fn

    def _queue(
        self,
        construct_id: str,
        *,
        retention: Duration | None = None,
        visibility_timeout: Duration | None = None,
        dlq: sqs.IQueue | None = None,
        name: str | None = None,
    ) -> sqs.Queue:
        return sqs.Queue(
            self,
            construct_id,
            queue_name=name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=retention or Duration.days(4),
            visibility_timeout=visibility_timeout or Duration.seconds(30),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=MAX_RECEIVES) if dlq else None,
        )

    def _subscribe(self) -> None:
        alerts = self.config.alerts
        for address in alerts.emails:
            self.alerts_topic.add_subscription(subs.EmailSubscription(address))
            self.ops_topic.add_subscription(subs.EmailSubscription(address))
        for url in alerts.https:
            self.alerts_topic.add_subscription(
                subs.UrlSubscription(url, protocol=sns.SubscriptionProtocol.HTTPS)
            )
        for n, queue_arn in enumerate(alerts.sqs):
            queue = sqs.Queue.from_queue_arn(self, f"Subscriber{n}", queue_arn)
            self.alerts_topic.add_subscription(subs.SqsSubscription(queue))

    def _chat(self) -> sns.Topic:
        """Opt-in: alerts as Amazon Q Developer custom notifications (core/alerts/chat.py), on a
        topic of their own (its messages are the notification JSON, nothing else), and the
        Slack channel configuration subscribed to it when the Slack IDs are given."""
        chat = self.config.chat
        topic = sns.Topic(
            self, "ChatAlerts", display_name="credfix chat alerts", master_key=self.key, enforce_ssl=True
        )
        CfnOutput(self, "ChatTopicArn", value=topic.topic_arn)
        if chat.slack_channel_id:
            channel = chatbot.SlackChannelConfiguration(
                self,
                "SlackChannel",
                slack_channel_configuration_name=f"credfix-{self.config.home_region}",
                slack_workspace_id=chat.slack_workspace_id,
                slack_channel_id=chat.slack_channel_id,
                notification_topics=[topic],
                logging_level=chatbot.LoggingLevel.ERROR,
                # Notifications only: the channel may run no AWS command through this configuration.
                guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AWSDenyAll")],
            )
            CfnOutput(self, "SlackChannelConfigurationArn", value=channel.slack_channel_configuration_arn)
        elif chat.slack_channel_configuration_arn:
            CfnOutput(
                self,
                "ChatNextStep",
                value=(
                    f"Add {topic.topic_arn} to the notifications of {chat.slack_channel_configuration_arn} "
                    "(Amazon Q Developer console, or update-slack-channel-configuration with its topics)"
                ),
            )
        return topic

    def _central_bus(self) -> None:
        """Org mode: member accounts forward their failures to this bus; only the org may."""
        org_id = self.config.org.organization_id
        bus = events.EventBus(self, "CentralBus", event_bus_name=CENTRAL_BUS_NAME)
        bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganisationMembersForward",
                actions=["events:PutEvents"],
                principals=[iam.AnyPrincipal()],
                resources=[bus.event_bus_arn],
                conditions={"StringEquals": {"aws:PrincipalOrgID": org_id}},
            )
        )
        # Events on this bus were already selected by the members' rules (on their default
        # buses, with all management events); this rule only re-checks the pattern.
        rule = credential_failure_rule(
            self,
            "OrganisationFailures",
            error_codes=error_codes(self.config),
            description="credfix: credential failures forwarded by member accounts",
            event_bus=bus,
            state="ENABLED",
        )
        rule.add_target(
            SourceBoundQueue(self.events_queue, dead_letter_queue=self.events_dlq, retry_attempts=10)
        )
        for rotation_rule in rotation_rules(self, "OrganisationRotationWatch", event_bus=bus):
            rotation_rule.add_target(
                SourceBoundQueue(self.rotation_queue, dead_letter_queue=self.rotation_dlq, retry_attempts=10)
            )
        self.central_bus = bus
        CfnOutput(self, "CentralBusArn", value=bus.event_bus_arn)

    def _trail(self) -> None:
        """Opt-in: a multi-region management-events trail for accounts that have none."""
        bucket = s3.Bucket(
            self,
            "TrailBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,  # audit logs are kept on purpose
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
        )
        acknowledge(
            bucket,
            (
                "AwsSolutions-S1",
                "This bucket only receives CloudTrail logs; access to it is itself recorded by "
                "the trail, and server access logging would need a second bucket per account.",
            ),
        )
        cloudtrail.Trail(
            self,
            "Trail",
            bucket=bucket,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_file_validation=True,
            send_to_cloud_watch_logs=False,
            management_events=cloudtrail.ReadWriteType.ALL,
        )

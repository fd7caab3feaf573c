"""Triage on the local AWS: account state built with boto3 (users, keys, rotations through
Secrets Manager versions, deactivations, deletions), realistic CloudTrail records, and the
verdict with its evidence. The triage Lambda runs end to end on the local pipeline."""

from __future__ import annotations

import base64
import json
import logging
import socket
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from credfix.adapters.aws import ClientFactory
from credfix.adapters.cli_clients import environment_clients
from credfix.adapters.stores.incidents import from_item, key_pk, to_incident
from credfix.config import Settings
from credfix.core.aggregate import aggregate
from credfix.core.triage import TriageResult, incident_from_delta, triage
from credfix.models.cloudtrail import parse_failure
from credfix.models.incident import ConfiguredCredential, Evidence, Incident, SourceAttribution, Workload
from harness.moto import ACCOUNT, LocalAws
from harness.pipeline import LocalPipeline, SqsPoller
from harness.records import cloudtrail_event
from tests.conftest import load_handler

pytestmark = pytest.mark.integration
SECRET_VALUE_MARKER = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY"  # part of every secret access key written here


@dataclass
class Fixed:
    """A LocateResult-like answer for tests that need located workloads."""

    workloads: list[Workload] = field(default_factory=list)
    findings: list[Evidence] = field(default_factory=list)
    attribution: list[SourceAttribution] = field(default_factory=list)


def locate_nothing(incident: Incident, client_for: ClientFactory, settings: Settings, **_: Any) -> Fixed:
    return Fixed(findings=[Evidence(check="test locator", found="no workloads")])


class Account:
    """The local AWS account, as an operator would set it up with boto3."""

    def __init__(self) -> None:
        self.iam = boto3.client("iam")
        self.sm = boto3.client("secretsmanager")

    def user_with_keys(self, name: str = "deploy-bot", keys: int = 2) -> list[str]:
        self.iam.create_user(UserName=name)
        return [self.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(keys)]

    def deactivate(self, key: str, user: str = "deploy-bot") -> None:
        self.iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")

    def delete(self, key: str, user: str = "deploy-bot") -> None:
        self.iam.delete_access_key(UserName=user, AccessKeyId=key)

    def watched_secret(self, name: str, key: str, *, tags: dict[str, str] | None = None) -> str:
        tags = {"credfix:watch": "true"} if tags is None else tags
        return str(
            self.sm.create_secret(
                Name=name,
                SecretString=self._value(key),
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )["ARN"]
        )

    def rotate(self, secret: str, key: str) -> None:
        self.sm.put_secret_value(SecretId=secret, SecretString=self._value(key))

    @staticmethod
    def _value(key: str) -> str:
        return json.dumps({"AccessKeyId": key, "SecretAccessKey": SECRET_VALUE_MARKER + key[-10:]})

    def use(self, key_id: str, aws: LocalAws) -> None:
        """A workload that reloaded the secret calls AWS with the new key (IAM records the use)."""
        boto3.client(
            "sts", aws_access_key_id=key_id, aws_secret_access_key="x", endpoint_url=aws.url
        ).get_caller_identity()


@pytest.fixture
def account(aws_env: LocalAws) -> Account:
    return Account()


def incident_for(*events: dict[str, Any]) -> Incident:
    parsed = [parse_failure(e, ref=f"m{i}") for i, e in enumerate(events)]
    (delta,) = aggregate(parsed).values()
    return incident_from_delta(delta, datetime.now(UTC), "test-incident")


def run_triage(incident: Incident, client_for: ClientFactory | None = None, **kw: Any) -> TriageResult:
    kw.setdefault("locate", locate_nothing)
    return triage(incident, client_for or environment_clients(), kw.pop("settings", Settings()), **kw)


def evidence_text(result: TriageResult) -> str:
    return "\n".join(f"{e.check}: {e.found}" for e in result.incident.evidence)


def test_stale_consumer(account: Account, aws_env: LocalAws, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    old, new = account.user_with_keys()
    arn = account.watched_secret("prod/deploy-bot", old)
    account.rotate(arn, new)
    account.deactivate(old)
    account.use(new, aws_env)
    caplog.clear()  # setting the secrets up logged their values (the test's own boto3 calls)

    result = run_triage(incident_for(cloudtrail_event(old), cloudtrail_event(old)))

    doc = result.incident
    assert (doc.verdict, doc.severity, doc.key_status, doc.owner_account) == (
        "stale-consumer",
        "medium",
        "Inactive",
        ACCOUNT,
    )
    text = evidence_text(result)
    assert f"sts:GetAccessKeyInfo: the key belongs to account {ACCOUNT}" in text
    assert "of user deploy-bot is Inactive" in text
    assert "watched secret prod/deploy-bot: held this key in version" in text
    assert f"AWSCURRENT holds AKIA…{new[-4:]} (Active)" in text
    assert f"last use of the expected key AKIA…{new[-4:]}" in text
    assert result.secret_arns == [arn] and result.rotated_at is not None
    assert any("rotated" in t.what for t in doc.timeline)
    # Secret values never leave the adapter: not in the document, not in any log line.
    assert SECRET_VALUE_MARKER not in json.dumps(doc.document())
    assert SECRET_VALUE_MARKER not in caplog.text


def test_stale_consumer_with_the_old_key_deleted(account: Account) -> None:
    old, new = account.user_with_keys()
    arn = account.watched_secret("prod/deploy-bot", old)
    account.rotate(arn, new)
    account.delete(old)

    result = run_triage(incident_for(cloudtrail_event(old)))

    assert (result.incident.verdict, result.incident.key_status) == ("stale-consumer", "deleted")
    assert "was deleted (watched secret prod/deploy-bot held it" in evidence_text(result)


def test_stale_secret(account: Account) -> None:
    (old,) = account.user_with_keys(keys=1)
    account.watched_secret("prod/deploy-bot", old)
    account.deactivate(old)

    result = run_triage(incident_for(cloudtrail_event(old)))

    assert (result.incident.verdict, result.incident.severity) == ("stale-secret", "high")
    assert "watched secret prod/deploy-bot: AWSCURRENT (version" in evidence_text(result)


def test_signature_mismatch(account: Account) -> None:
    (key,) = account.user_with_keys(keys=1)
    result = run_triage(incident_for(cloudtrail_event(key, error_code="SignatureDoesNotMatch")))
    assert (result.incident.verdict, result.incident.key_status) == ("signature-mismatch", "Active")
    assert "SignatureDoesNotMatch with an Active key" in evidence_text(result)


def test_wrong_credential_source(account: Account, aws_env: LocalAws) -> None:
    """The task is configured with the user's new key, which works (recent use), yet it signs
    with the old one: another provider wins. The located workload comes from a fixed locator."""
    old, new = account.user_with_keys()
    account.deactivate(old)
    account.use(new, aws_env)
    task = Workload(
        type="ecs-task",
        id=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/5f2c",
        confidence="high",
        evidence=["source IP 10.0.1.25 is this task's ENI"],
        credentials=[ConfiguredCredential(kind="static-key", ref=f"AKIA…{new[-4:]}", access_key_id=new)],
    )
    seen: dict[str, Any] = {}

    def locate(incident: Incident, client_for: ClientFactory, settings: Settings, **kw: Any) -> Fixed:
        seen.update(kw)
        return Fixed(workloads=[task])

    result = run_triage(incident_for(cloudtrail_event(old)), locate=locate)

    assert (result.incident.verdict, result.incident.severity) == ("wrong-credential-source", "high")
    text = evidence_text(result)
    assert f"configured with a different, Active key AKIA…{new[-4:]}, last used" in text
    assert "another credential provider wins" in text
    assert result.incident.workloads == [task]
    assert seen == {
        "secret_arns": [],
        "rotated_at": None,
        "session_issuer_arn": None,
        "account": ACCOUNT,  # whose addresses and endpoints attribute the failures
    }


def test_foreign_account(account: Account) -> None:
    # Stubber for GetAccessKeyInfo alone: the local AWS (moto) always answers its own account
    # 123456789012 and cannot say that a key belongs to another account. Everything else
    # (IAM, Secrets Manager) is the real local AWS.
    sts = boto3.client("sts")
    stubber = Stubber(sts)
    key = "AKIAY34FZKBOKMUTVV7A"
    stubber.add_response("get_access_key_info", {"Account": "210987654321"}, {"AccessKeyId": key})
    real = environment_clients()
    account.watched_secret("partner/deploy", key)

    with stubber:
        result = run_triage(
            incident_for(cloudtrail_event(key)),
            lambda service, region=None: sts if service == "sts" else real(service, region),
        )
    stubber.assert_no_pending_responses()

    doc = result.incident
    assert (doc.verdict, doc.key_status, doc.owner_account) == (
        "foreign-account",
        "not-in-account",
        "210987654321",
    )
    text = evidence_text(result)
    assert "belongs to account 210987654321, not to the account(s) it was used against" in text
    assert "watched secret partner/deploy: holds this foreign key" in text


def test_key_deactivated(account: Account) -> None:
    (key,) = account.user_with_keys(keys=1)
    account.deactivate(key)
    result = run_triage(incident_for(cloudtrail_event(key)))
    assert (result.incident.verdict, result.incident.key_status) == ("key-deactivated", "Inactive")


def test_key_deleted(account: Account) -> None:
    (key,) = account.user_with_keys(keys=1)
    account.delete(key)
    plain = run_triage(incident_for(cloudtrail_event(key)))
    assert (plain.incident.verdict, plain.incident.key_status) == ("key-deleted", "deleted")
    assert "nothing shows" in evidence_text(plain)
    # A SignatureDoesNotMatch earlier in the incident shows AWS knew the key: it was deleted.
    mixed = run_triage(
        incident_for(cloudtrail_event(key, error_code="SignatureDoesNotMatch"), cloudtrail_event(key))
    )
    assert mixed.incident.verdict == "key-deleted"
    assert "AWS answered SignatureDoesNotMatch for it" in evidence_text(mixed)


def test_temporary_credentials_name_the_role_from_the_session_issuer(aws_env: LocalAws) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/deploy"
    record = cloudtrail_event(
        "ASIAY34FZKBOKMUTVV7A",
        error_code="InvalidClientTokenId",
        userIdentity={
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:i-0abc",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/i-0abc",
            "accountId": ACCOUNT,
            "accessKeyId": "ASIAY34FZKBOKMUTVV7A",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": ACCOUNT}},
        },
    )
    seen: dict[str, Any] = {}

    def locate(incident: Incident, client_for: ClientFactory, settings: Settings, **kw: Any) -> Fixed:
        seen.update(kw)
        return Fixed()

    result = run_triage(incident_for(record), locate=locate)

    assert (result.incident.verdict, result.incident.key_status) == ("temporary-credentials", "temporary")
    assert f"role: {role}" in evidence_text(result)
    assert seen["session_issuer_arn"] == role


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unknown_key_when_sts_is_unreachable_and_the_key_id_is_old_format(account: Account) -> None:
    # STS unreachable (its endpoint points at a closed port), the rest is the local AWS.
    dead_sts = boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    real = environment_clients()
    result = run_triage(
        incident_for(cloudtrail_event("AKIAIOSFODNN7EXAMPLE")),
        lambda service, region=None: dead_sts if service == "sts" else real(service, region),
    )
    assert (result.incident.verdict, result.incident.owner_account) == ("unknown-key", None)
    text = evidence_text(result)
    assert "no answer (unreachable: EndpointConnectionError" in text
    assert "old-format key ID" in text


@pytest.fixture
def deny_key_info(aws: LocalAws, account: Account) -> Iterator[Callable[[], ClientFactory]]:
    """Clients of a triage user whose policy denies sts:GetAccessKeyInfo. Calling the fixture's
    value switches the local AWS to checking signatures and IAM policies (moto's auth mode),
    so that the denial is a real one; build the account state before that."""
    account.iam.create_user(UserName="credfix-triage")
    account.iam.put_user_policy(
        UserName="credfix-triage",
        PolicyName="triage",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "sts:GetAccessKeyInfo", "Resource": "*"},
                ],
            }
        ),
    )
    key = account.iam.create_access_key(UserName="credfix-triage")["AccessKey"]
    session = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )

    def enable() -> ClientFactory:
        aws.check_signatures()
        return lambda service, region=None: session.client(service, region_name=region)

    try:
        yield enable
    finally:  # back to moto's default (no auth checks) for the tests that follow on this server
        req = urllib.request.Request(
            f"{aws.url}/moto-api/reset-auth",
            data=b"inf",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(req, timeout=10).close()


def _key_of_account(account: str) -> str:
    """A new-format key ID that decodes to `account` (published layout) and is in no IAM."""
    raw = ((1 << 47) | (int(account) << 7) | 0x2A).to_bytes(6, "big") + b"\x9a\xbc\xde\xf0"
    return "AKIA" + base64.b32encode(raw).decode()


def test_sts_denied_falls_back_to_offline_decoding(
    account: Account, deny_key_info: Callable[[], ClientFactory]
) -> None:
    """GetAccessKeyInfo denied by policy (a real denial by the local AWS in auth mode, no
    Stubber needed): the owner comes from decoding the key ID, and the evidence says so."""
    failing = _key_of_account(ACCOUNT)
    (new,) = account.user_with_keys(keys=1)
    arn = account.watched_secret("prod/legacy", failing)
    account.rotate(arn, new)
    incident = incident_for(cloudtrail_event(failing))

    result = run_triage(incident, deny_key_info())

    doc = result.incident
    assert (doc.verdict, doc.owner_account, doc.key_status) == ("stale-consumer", ACCOUNT, "deleted")
    text = evidence_text(result)
    assert "sts:GetAccessKeyInfo: no answer (AccessDenied" in text
    assert f"fell back to offline decoding of the key ID: account {ACCOUNT}" in text


def test_watch_prefixes_and_the_exact_tag_choose_the_secrets(account: Account) -> None:
    old, new = account.user_with_keys()
    untagged = account.watched_secret("ci/deploy-bot", old, tags={})
    account.rotate(untagged, new)
    not_watched = account.watched_secret("team/other", old, tags={"credfix:watch": "false", "x": "true"})
    account.rotate(not_watched, new)
    account.deactivate(old)
    incident = incident_for(cloudtrail_event(old))

    by_tag_only = run_triage(incident)
    assert by_tag_only.incident.verdict == "key-deactivated"  # neither secret is watched

    # A prefix alone does not make an untagged secret watched: the operator must say so.
    prefix_only = run_triage(incident, settings=Settings(CREDFIX_WATCH_PREFIXES="ci/"))
    assert prefix_only.incident.verdict == "key-deactivated" and prefix_only.secret_arns == []

    untagged_allowed = Settings(CREDFIX_WATCH_PREFIXES="ci/", CREDFIX_WATCH_UNTAGGED="true")
    with_prefix = run_triage(incident, settings=untagged_allowed)
    assert with_prefix.incident.verdict == "stale-consumer"
    assert with_prefix.secret_arns == [untagged]


# --- the triage Lambda, end to end ----------------------------------------------------------------


@pytest.fixture
def act_queue(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> str:
    url = str(pipeline.sqs.create_queue(QueueName="credfix-act")["QueueUrl"])
    monkeypatch.setenv("CREDFIX_ACT_QUEUE_URL", url)
    return url


def _drain(pipeline: LocalPipeline, handler: Any) -> SqsPoller:
    """Both of triage's lanes (the work queue, then the bulk queue), as one poller's stats."""
    poller = SqsPoller(
        pipeline.sqs,
        pipeline.urls[pipeline.names.work_queue],
        handler,
        function_name="credfix-triage",
        batch_size=10,
    )
    poller.drain()
    poller.queue_url = pipeline.urls[pipeline.names.bulk_queue]
    poller.drain()
    return poller


def _act_messages(pipeline: LocalPipeline, url: str) -> list[dict[str, Any]]:
    out = []
    while got := pipeline.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in got:
            out.append(json.loads(m["Body"]))
            pipeline.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def _item(pipeline: LocalPipeline, key: str) -> dict[str, Any]:
    resp = pipeline.ddb.get_item(TableName=pipeline.names.table, Key={"pk": {"S": key_pk(key)}})
    return from_item(resp["Item"])


def test_triage_handler_end_to_end(pipeline: LocalPipeline, act_queue: str, aws: LocalAws) -> None:
    account = Account()
    old, new = account.user_with_keys()
    arn = account.watched_secret("prod/deploy-bot", old)
    account.rotate(arn, new)
    account.deactivate(old)

    from harness import account as build

    _, egress = build.nat_gateway(build.network())  # the stale consumer calls out through NAT
    pipeline.put_events([cloudtrail_event(old, source_ip=egress) for _ in range(3)])
    pipeline.ingest_poller(load_handler("ingest").handler).drain()
    triage_handler = load_handler("triage").handler
    poller = _drain(pipeline, triage_handler)

    assert poller.stats.delivered == 1 and poller.stats.item_failures == 0
    item = _item(pipeline, old)
    assert (item["status"], item["verdict"], item["severity"]) == ("triaged", "stale-consumer", "medium")
    assert json.loads(item["triage"])["origin"] == "account"
    incident = to_incident(item)  # the storage contract: triage's JSON attribute merges back
    assert incident.verdict == "stale-consumer" and incident.key_status == "Inactive"
    assert incident.event_count == 3
    assert any("prod/deploy-bot" in e.check for e in incident.evidence)
    assert any(t.what.startswith("triaged: stale-consumer") for t in incident.timeline)
    assert SECRET_VALUE_MARKER not in item["triage"]
    opened = {"access_key_id": old, "incident_id": item["incident_id"]}
    assert _act_messages(pipeline, act_queue) == [{"type": "incident-triaged", **opened}]

    # Redelivery of the same message: nothing is written again and no second act message.
    work = pipeline.urls[pipeline.names.work_queue]
    pipeline.sqs.send_message(QueueUrl=work, MessageBody=json.dumps({"type": "incident-opened", **opened}))
    _drain(pipeline, triage_handler)
    assert _item(pipeline, old)["triaged_at"] == item["triaged_at"]
    assert _act_messages(pipeline, act_queue) == []

    # A crash after the verdict was written but before the act message went out: the
    # redelivered message sends it (once).
    pipeline.ddb.update_item(
        TableName=pipeline.names.table,
        Key={"pk": {"S": key_pk(old)}},
        UpdateExpression="REMOVE act_queued_for",
    )
    for _ in range(2):
        pipeline.sqs.send_message(
            QueueUrl=work, MessageBody=json.dumps({"type": "incident-opened", **opened})
        )
        _drain(pipeline, triage_handler)
    assert _act_messages(pipeline, act_queue) == [{"type": "incident-triaged", **opened}]


def test_triage_handler_fails_only_the_bad_record(pipeline: LocalPipeline, act_queue: str) -> None:
    account = Account()
    (key,) = account.user_with_keys(keys=1)
    account.deactivate(key)
    pipeline.put_events([cloudtrail_event(key)])
    pipeline.ingest_poller(load_handler("ingest").handler).drain()
    work = pipeline.urls[pipeline.names.work_queue]
    pipeline.sqs.send_message(QueueUrl=work, MessageBody='{"type": "incident-opened"}')  # no key
    pipeline.sqs.send_message(
        QueueUrl=work,
        MessageBody=json.dumps(
            {"type": "incident-opened", "access_key_id": key, "incident_id": "an-incident-long-gone"}
        ),
    )
    handler = load_handler("triage").handler
    poller = SqsPoller(pipeline.sqs, work, handler, function_name="t", batch_size=10)
    poller.poll_once()

    assert poller.stats.delivered == 3
    assert poller.stats.item_failures == 1  # the malformed one comes back (then to the DLQ)
    # The record came from someone else's endpoint: attributed to nothing, so the incident
    # takes the bulk lane and is triaged there (not ahead of the account's own incidents).
    assert _item(pipeline, key)["status"] == "open"
    bulk = pipeline.urls[pipeline.names.bulk_queue]
    SqsPoller(pipeline.sqs, bulk, handler, function_name="t", batch_size=10).drain()
    assert _item(pipeline, key)["verdict"] == "key-deactivated"
    assert _act_messages(pipeline, act_queue) == []  # the stale message sent nothing, and the
    act_bulk = pipeline.urls[pipeline.names.act_bulk_queue]  # outsider's incident takes act's bulk lane
    assert len(_act_messages(pipeline, act_bulk)) == 1


def test_wrong_credential_source_from_a_static_key_in_the_task_definition(aws_env: LocalAws) -> None:
    """The field guide's "one deployment still on static keys", end to end with the real
    locators: the task definition's plain environment carries a different, Active key, yet
    the task signs with the deactivated one (found by the benchmark's scenario: the locator
    used to withhold the other key's ID, so triage could not see it was Active)."""
    from harness import account as build
    from harness.records import FARGATE_UA

    iam = boto3.client("iam")
    iam.create_user(UserName="orders")
    old, new = (iam.create_access_key(UserName="orders")["AccessKey"]["AccessKeyId"] for _ in range(2))
    iam.update_access_key(UserName="orders", AccessKeyId=old, Status="Inactive")
    net = build.network()
    definition = build.task_definition("orders", static_key=new)
    (task,) = build.ecs_service(net, "prod", "orders", definition)
    record = cloudtrail_event(
        old,
        source_ip=build.private_ip_of(task),
        vpc_endpoint_id=build.sts_endpoint(net),
        user_agent=FARGATE_UA,
    )
    incident = incident_for(record)
    result = triage(incident, environment_clients(), Settings())
    assert result.decision.verdict == "wrong-credential-source", evidence_text(result)
    assert "configured with a different, Active key" in evidence_text(result)


def test_known_home_account_spares_get_caller_identity(account: Account, aws_env: LocalAws) -> None:
    """The Lambda's own ARN names the account it reads: triage then asks STS only whose the
    key is, and the caller account (which decides whether IAM can be read) is the same."""
    from credfix.models.iam import CallerIdentity

    sent: list[str] = []
    clients = environment_clients()

    def counting(service: str, region: str | None = None) -> Any:
        made = clients(service, region)
        if service == "sts" and not getattr(made, "_counted", False):
            made.meta.events.register("before-call.sts", lambda model, **_: sent.append(model.name))
            made._counted = True
        return made

    old, _ = account.user_with_keys()
    account.deactivate(old)
    home = CallerIdentity(ACCOUNT, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:credfix-triage")
    known = run_triage(incident_for(cloudtrail_event(old)), counting, caller_identity=home)
    assert sent == ["GetAccessKeyInfo"]
    asked = run_triage(incident_for(cloudtrail_event(old)), counting)
    assert sent[1:] == ["GetAccessKeyInfo", "GetCallerIdentity"]
    assert known.decision.verdict == asked.decision.verdict == "key-deactivated"
    assert known.decision.key_status == asked.decision.key_status == "Inactive"


def test_home_identity_comes_from_the_function_arn(aws_env: LocalAws) -> None:
    from harness.pipeline import LambdaContext

    home_identity = load_handler("triage").home_identity
    found = home_identity(LambdaContext("credfix-triage"))
    assert found is not None and found.account_id == ACCOUNT and found.arn.startswith("arn:aws:lambda:")
    assert home_identity(None) is None

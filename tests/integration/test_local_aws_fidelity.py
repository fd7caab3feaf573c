"""The local AWS answers like AWS where the rotation watch reads it (harness/moto_server.py,
harness/event_history.py, harness/cloudtrail.py): CloudTrail `LookupEvents` from the local
CloudTrail's records, in AWS's shape with paging; ECS task times and a new deployment that
replaces the tasks; Secrets Manager version dates with their fraction of a second."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness import account as build
from harness.cloudtrail import LocalCloudTrail
from harness.moto import LocalAws

ENDPOINT = "vpce-0123456789abcdef0"


def _caller(key: dict[str, Any]) -> Any:
    return boto3.client(
        "sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )


def _key() -> dict[str, Any]:
    iam = boto3.client("iam")
    iam.create_user(UserName="history-user")
    return dict(iam.create_access_key(UserName="history-user")["AccessKey"])


def test_lookup_events_answers_with_the_local_trails_successful_calls(aws_env: LocalAws) -> None:
    key = _key()
    trail = LocalCloudTrail(source_ip="10.0.1.7", vpc_endpoint_id=ENDPOINT)
    client = trail.watch(_caller(key))
    for _ in range(3):
        client.get_caller_identity()
    assert len(trail.successes) == 3 and trail.records == []

    answer = boto3.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key["AccessKeyId"]}]
    )
    events = answer["Events"]
    assert len(events) == 3
    assert "NextToken" not in answer
    first = events[0]
    assert set(first) >= {"EventId", "EventName", "ReadOnly", "AccessKeyId", "EventTime", "EventSource"}
    assert first["EventName"] == "GetCallerIdentity" and first["EventSource"] == "sts.amazonaws.com"
    assert first["ReadOnly"] == "true" and first["AccessKeyId"] == key["AccessKeyId"]
    assert isinstance(first["EventTime"], datetime)
    record = json.loads(first["CloudTrailEvent"])  # the record itself, as a JSON string
    assert record["sourceIPAddress"] == "10.0.1.7" and record["vpcEndpointId"] == ENDPOINT
    assert "errorCode" not in record
    assert [e["EventId"] for e in events] == [json.loads(e["CloudTrailEvent"])["eventID"] for e in events]


def test_lookup_events_pages_most_recent_first_and_filters_by_time(aws_env: LocalAws) -> None:
    key = _key()
    trail = LocalCloudTrail(source_ip="203.0.113.9")
    client = trail.watch(_caller(key))
    for _ in range(5):
        client.get_caller_identity()
    cloudtrail = boto3.client("cloudtrail")
    by_key = [{"AttributeKey": "AccessKeyId", "AttributeValue": key["AccessKeyId"]}]
    first = cloudtrail.lookup_events(LookupAttributes=by_key, MaxResults=2)
    assert len(first["Events"]) == 2 and first["NextToken"]
    pages = list(
        cloudtrail.get_paginator("lookup_events").paginate(
            LookupAttributes=by_key, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["Events"]) for p in pages] == [2, 2, 1]
    times = [e["EventTime"] for p in pages for e in p["Events"]]
    assert times == sorted(times, reverse=True)
    assert len({e["EventId"] for p in pages for e in p["Events"]}) == 5

    later = datetime.now(UTC) + timedelta(minutes=5)
    assert cloudtrail.lookup_events(LookupAttributes=by_key, StartTime=later)["Events"] == []
    other = [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAOTHERKEY00000000"}]
    assert cloudtrail.lookup_events(LookupAttributes=other)["Events"] == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (
            {
                "LookupAttributes": [
                    {"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAAAAAAAAAAAAAAAAA"},
                    {"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"},
                ]
            },
            "InvalidLookupAttributesException",
        ),
        (
            {"StartTime": datetime(2026, 1, 2, tzinfo=UTC), "EndTime": datetime(2026, 1, 1, tzinfo=UTC)},
            "InvalidTimeRangeException",
        ),
    ],
)
def test_lookup_events_refuses_what_aws_refuses(aws_env: LocalAws, kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(ClientError) as refused:
        boto3.client("cloudtrail").lookup_events(**kwargs)
    assert refused.value.response["Error"]["Code"] == code


def test_a_next_token_works_only_with_the_parameters_that_issued_it(aws_env: LocalAws) -> None:
    key = _key()
    client = LocalCloudTrail(source_ip="203.0.113.9").watch(_caller(key))
    for _ in range(3):
        client.get_caller_identity()
    cloudtrail = boto3.client("cloudtrail")
    by_key = [{"AttributeKey": "AccessKeyId", "AttributeValue": key["AccessKeyId"]}]
    token = cloudtrail.lookup_events(LookupAttributes=by_key, MaxResults=1)["NextToken"]
    by_name = [{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}]
    with pytest.raises(ClientError) as refused:
        cloudtrail.lookup_events(LookupAttributes=by_name, MaxResults=1, NextToken=token)
    assert refused.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_reset_empties_the_event_history(aws_env: LocalAws) -> None:
    key = _key()
    LocalCloudTrail(source_ip="203.0.113.9").watch(_caller(key)).get_caller_identity()
    aws_env.reset()
    assert boto3.client("cloudtrail").lookup_events()["Events"] == []


def test_secret_requests_keep_names_and_versions_never_values(aws_env: LocalAws) -> None:
    trail = LocalCloudTrail(source_ip="203.0.113.9")
    sm = trail.watch(boto3.client("secretsmanager"))
    arn = sm.create_secret(Name="history/secret", SecretString="first-value")["ARN"]
    put = sm.put_secret_value(SecretId=arn, SecretString="second-value")
    record = trail.successes[-1]["detail"]
    assert record["eventName"] == "PutSecretValue"
    assert record["requestParameters"]["secretId"] == arn
    assert set(record["requestParameters"]) <= {"secretId", "clientRequestToken"}
    assert record["responseElements"] == {"arn": arn, "versionId": put["VersionId"]}
    assert "value" not in json.dumps(trail.successes)


def test_ecs_tasks_have_times_and_a_new_deployment_replaces_them(aws_env: LocalAws) -> None:
    net = build.network()
    definition = build.task_definition("fidelity")
    (task,) = build.ecs_service(net, "fidelity", "svc", definition)
    assert task["startedAt"] and task["createdAt"]
    ecs = boto3.client("ecs")
    ecs.update_service(cluster="fidelity", service="svc", forceNewDeployment=True)
    deployment = ecs.describe_services(cluster="fidelity", services=["svc"])["services"][0]["deployments"][0]
    running = ecs.list_tasks(cluster="fidelity", serviceName="svc", desiredStatus="RUNNING")["taskArns"]
    assert task["taskArn"] not in running and len(running) == 1
    (new,) = ecs.describe_tasks(cluster="fidelity", tasks=running)["tasks"]
    assert new["startedBy"] == deployment["id"] and new["startedAt"] > task["startedAt"]
    (old,) = ecs.describe_tasks(cluster="fidelity", tasks=[task["taskArn"]])["tasks"]
    assert old["lastStatus"] == "STOPPED"
    build.ecs_service(net, "fidelity", "other", definition)
    assert (
        ecs.list_tasks(cluster="fidelity", serviceName="svc", desiredStatus="RUNNING")["taskArns"] == running
    )


def test_secret_version_dates_keep_their_fraction_of_a_second(aws_env: LocalAws) -> None:
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="dated", SecretString="a")["ARN"]
    time.sleep(0.05)
    mark = datetime.now(UTC)
    time.sleep(0.05)
    sm.put_secret_value(SecretId=arn, SecretString="b")
    created = sm.get_secret_value(SecretId=arn)["CreatedDate"]
    assert created > mark  # whole seconds would put it before the mark


def test_an_event_reaches_an_sqs_target_with_its_account(aws_env: LocalAws) -> None:
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="whole-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-of-it", EventPattern=json.dumps({"source": ["aws.secretsmanager"]}))
    events.put_targets(Rule="all-of-it", Targets=[{"Id": "q", "Arn": arn}])
    events.put_events(
        Entries=[{"Source": "aws.secretsmanager", "DetailType": "Secret Label Updated", "Detail": "{}"}]
    )
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["account"] == "123456789012"


def test_an_inactive_key_is_refused_as_aws_refuses_it(aws_env: LocalAws) -> None:
    import urllib.request

    iam = boto3.client("iam")
    iam.create_user(UserName="operator")
    iam.put_user_policy(
        UserName="operator",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    operator = iam.create_access_key(UserName="operator")["AccessKey"]
    key = _key()
    aws_env.check_signatures()
    try:
        admin = boto3.client(
            "iam",
            aws_access_key_id=operator["AccessKeyId"],
            aws_secret_access_key=operator["SecretAccessKey"],
        )
        assert _caller(key).get_caller_identity()["Account"]  # Active: accepted
        admin.update_access_key(UserName="history-user", AccessKeyId=key["AccessKeyId"], Status="Inactive")
        with pytest.raises(ClientError) as refused:
            _caller(key).get_caller_identity()
        assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    finally:  # back to moto's default (no auth checks) for the tests that follow on this server
        request = urllib.request.Request(
            f"{aws_env.url}/moto-api/reset-auth",
            data=b"inf",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=10).close()

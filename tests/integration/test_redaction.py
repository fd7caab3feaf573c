"""An AWS error that echoes the request never carries a value into what credfix keeps or says.

Lambda refuses an environment over 4 KB with an InvalidParameterValueException that quotes the
whole environment ("… exceeded the 4KB limit. String measured: {"DB_PASSWORD":"…",…}"). The
local AWS answers that way too: moto does not check the size, so harness/moto_server.py adds
the check with AWS's message (no Stubber needed: the error comes over the wire from the local
AWS, the way AWS sends it). A function whose environment is just under 4 KB is refreshed by
credfix (the refresh adds one marker variable): the update is refused, and the secret value
must appear nowhere: not in the incidents table, not in what SNS delivers, not in any log line
at DEBUG (credfix's, Powertools', botocore's)."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from credfix.adapters.actions.lambda_refresh import REFRESH_MARKER
from harness import account as build
from harness.account import LAMBDA_UA
from harness.moto import ACCOUNT, REGION
from harness.moto_server import LAMBDA_ENVIRONMENT_LIMIT
from harness.pipeline import LocalPipeline
from tests.integration.test_seams import LIFECYCLE_RESTARTS, failures, run_credfix

pytestmark = pytest.mark.integration
SECRET = "pg-s3cr3t-Hx8wQ2-do-not-leak"


def environment_just_under_the_limit() -> dict[str, str]:
    """DB_PASSWORD and padding, 20 bytes under 4 KB: credfix's marker variable tips it over."""
    env = {"DB_PASSWORD": SECRET, "PAD": ""}
    env["PAD"] = "x" * (LAMBDA_ENVIRONMENT_LIMIT - 20 - len(json.dumps(env, separators=(",", ":"))))
    return env


def test_an_error_that_echoes_the_environment_leaves_the_secret_nowhere(
    pipeline: LocalPipeline,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    net = build.network()
    role = build.role("exporter")
    function, ip = build.lambda_in_vpc(net, "exporter", role, environment=environment_just_under_the_limit())
    assert ip is not None
    session_key = "ASIAY34FZKBOKMUTVV7B"
    identity = {
        "type": "AssumedRole",
        "principalId": "AROAY34FZKBOEXAMPLE:exporter",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/exporter/exporter",
        "accountId": ACCOUNT,
        "accessKeyId": session_key,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": ACCOUNT}},
    }
    records = failures(session_key, ip, build.sts_endpoint(net), LAMBDA_UA, userIdentity=identity)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)  # every logger, botocore's included
    caplog.clear()  # setting the function up logged its environment (the test's own calls)
    capfd.readouterr()

    out = run_credfix(pipeline, monkeypatch, records, **LIFECYCLE_RESTARTS)

    # The refresh was refused, and the record says why without the values.
    (action,) = [a for a in out.incident.actions if a.type == "lambda-refresh"]
    assert action.status == "failed", action
    assert "InvalidParameterValueException" in action.reason and "exceeded the 4KB limit" in action.reason
    assert "(UpdateFunctionConfiguration)" in action.reason
    config = boto3.client("lambda").get_function_configuration(FunctionName=function)
    assert REFRESH_MARKER not in config["Environment"]["Variables"]  # really refused

    table = pipeline.ddb.scan(TableName=pipeline.names.table)["Items"]
    delivered = [out.alert, *pipeline.queue_messages(pipeline.names.inbox)]
    logs = caplog.text + "".join(capfd.readouterr())
    assert "Making request for" in logs and "UpdateFunctionConfiguration" in logs  # DEBUG was on
    for where, text in {"table": json.dumps(table), "sns": json.dumps(delivered), "logs": logs}.items():
        assert SECRET not in text, f"the secret value reached the {where}"
    assert f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:exporter" in json.dumps(delivered)

"""Issue 20, the deployment side: settings that refuse typos (in the config model and through
`app.py` as the CDK CLI runs it), the opt-in chat topic, the docs base URL the alerts link to,
and the outputs the day-two verbs read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load, unknown_settings
from tests.conftest import synth
from tests.infra.conftest import resources

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("keys", "line"),
    [
        (["mod"], "unknown setting 'mod' (did you mean 'mode'?)"),
        (["alert"], "unknown setting 'alert' (did you mean 'alerts'?)"),
        (["homeregion"], "unknown setting 'homeregion' (did you mean 'home_region'?)"),
        (["zzz"], "unknown setting 'zzz' (settings: home_region, account,"),
    ],
)
def test_a_misspelled_key_is_refused_with_the_setting_it_meant(keys: list[str], line: str) -> None:
    with pytest.raises(ConfigError) as info:
        load({}.get, keys)
    assert line in str(info.value)


def test_the_cdks_own_keys_are_left_alone() -> None:
    cdk_keys = [
        "@aws-cdk/aws-iam:minimizePolicies",
        "aws:cdk:enable-path-metadata",
        "availability-zones:account=123456789012:region=us-east-1",
        "acknowledged-issue-numbers",
        "mode",
    ]
    assert unknown_settings(cdk_keys) == []
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert load(context.get, context.keys()).mode == "observe"


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load({"mode": "yolo", "alerts": "{not json"}.get, ["mode", "alerts", "mod"])
    text = str(info.value)
    assert text.startswith("credfix: invalid cdk.json context:")
    assert "unknown setting 'mod'" in text and "must be JSON objects" in text


def _synth_process(context: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`app.py` as the CDK CLI runs it: the context in CDK_CONTEXT_JSON, cdk.json's included."""
    merged = {**json.loads((ROOT / "cdk.json").read_text())["context"], **context}
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(merged), "CDK_OUTDIR": out}
        return subprocess.run(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


def test_synth_with_a_typo_fails_with_a_short_list_and_no_traceback() -> None:
    done = _synth_process({"mod": "enforce", "drain_minutes": "30"})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0] == "credfix: invalid cdk.json context:"
    assert "  - unknown setting 'mod' (did you mean 'mode'?)" in lines
    assert any(
        line.startswith("  - drain_minutes: Input should be less than or equal to 15") for line in lines
    )
    assert len(lines) <= 4


@pytest.mark.parametrize(
    ("chat", "message"),
    [
        ({"slack_workspace_id": "T0ABC12DE"}, "needs both slack_workspace_id and slack_channel_id"),
        (
            {"slack_channel_configuration_arn": "arn:aws:sns:us-east-1:1:x"},
            "not a Slack channel configuration ARN",
        ),
        ({"slack_workspace_id": "t0", "slack_channel_id": "C0ABC12DE"}, "is not a Slack ID"),
        ({"teams": True}, "chat.teams: Extra inputs are not permitted"),
    ],
)
def test_bad_chat_settings(chat: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load({"chat": chat}.get)


def test_docs_base_url_must_be_https() -> None:
    with pytest.raises(ConfigError, match="docs_base_url must be an https:// URL"):
        load({"docs_base_url": "http://wiki.example.com"}.get)


def test_no_chat_topic_unless_asked(single_account_templates: dict[str, dict[str, Any]]) -> None:
    home = single_account_templates["credfix-home"]
    assert len(resources(home, "AWS::SNS::Topic")) == 2
    assert "ChatTopicArn" not in home["Outputs"]
    settings = json.loads(home["Outputs"]["OperatorSettings"]["Value"])
    assert settings == {"target_cooldown_seconds": 3600, "breaker_failures": 3, "block_seconds": 7 * 86400}
    for fn in resources(home, "AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["CREDFIX_CHAT_TOPIC_ARN"] == ""
        assert env["CREDFIX_DOCS_BASE_URL"].startswith("https://")


def test_chat_with_slack_ids_deploys_the_topic_and_a_notifications_only_channel() -> None:
    context = {
        "chat": {"slack_workspace_id": "T0ABC12DE", "slack_channel_id": "C0ABC12DE"},
        "docs_base_url": "https://wiki.example.com/credfix/verdicts/",
    }
    with tempfile.TemporaryDirectory() as out:
        home = synth(context, out)["credfix-home"]  # cdk-nag runs: a finding fails synth
    topics = resources(home, "AWS::SNS::Topic")
    (chat_id,) = [
        lid for lid, t in topics.items() if t["Properties"].get("DisplayName") == "credfix chat alerts"
    ]
    assert "KmsMasterKeyId" in topics[chat_id]["Properties"]
    (channel,) = resources(home, "AWS::Chatbot::SlackChannelConfiguration").values()
    props = channel["Properties"]
    assert (props["SlackWorkspaceId"], props["SlackChannelId"]) == ("T0ABC12DE", "C0ABC12DE")
    assert props["SnsTopicArns"] == [{"Ref": chat_id}]
    assert "AWSDenyAll" in json.dumps(props["GuardrailPolicies"])
    for fn in resources(home, "AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["CREDFIX_CHAT_TOPIC_ARN"] == {"Ref": chat_id}
        assert env["CREDFIX_DOCS_BASE_URL"] == "https://wiki.example.com/credfix/verdicts"
    # act and verify may publish to it (the alerts-topic kind covers both topics), nothing else may
    for lid, policy in resources(home, "AWS::IAM::Policy").items():
        publishes = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if "sns:Publish" in json.dumps(s["Action"])
        ]
        grants_chat = any(
            {"Ref": chat_id} in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
            for s in publishes
        )
        assert grants_chat == lid.startswith(("FunctionsActRole", "FunctionsVerifyRole")), lid


def test_chat_with_an_existing_configuration_outputs_the_topic_to_add() -> None:
    arn = "arn:aws:chatbot::123456789012:chat-configuration/slack-channel/ops"
    with tempfile.TemporaryDirectory() as out:
        home = synth({"chat": {"slack_channel_configuration_arn": arn}}, out)["credfix-home"]
    assert not resources(home, "AWS::Chatbot::SlackChannelConfiguration")
    assert {"ChatTopicArn", "ChatNextStep"} <= set(home["Outputs"])
    assert arn in json.dumps(home["Outputs"]["ChatNextStep"])

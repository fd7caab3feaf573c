"""SSM calls of the act step: the kill switch parameter, and the configured shell command
sent to a standalone instance (e.g. restart the agent that cached credentials)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.exceptions import ClientError

from credfix.arns import instance_id
from credfix.permissions import needs

KILL_SWITCH_CACHE_SECONDS = 60  # how long a flipped switch may take to be seen by a warm Lambda
KILL_SWITCH_ON = frozenset({"on", "true", "1", "yes", "observe"})


class KillSwitch:
    """The runtime kill switch: an SSM parameter whose value "on"/"true" forces observe mode.

    Read through Powertools Parameters, cached for KILL_SWITCH_CACHE_SECONDS. A switch that is
    configured but cannot be read counts as ON: when in doubt, change nothing."""

    def __init__(self, client: Any, parameter_name: str) -> None:
        self._provider = SSMProvider(boto3_client=client)
        self._name = parameter_name

    @needs("act", "ssm:GetParameter", on="kill-switch-parameter")
    def engaged(self) -> tuple[bool, str]:
        """(engaged, why) — why is human text for the incident's action reasons."""
        if not self._name:
            return False, "no kill switch configured"
        try:
            value = self._provider.get(self._name, max_age=KILL_SWITCH_CACHE_SECONDS)
        except Exception as exc:  # Powertools wraps ClientError in GetParameterError
            cause = exc.__cause__ if isinstance(exc.__cause__, ClientError) else exc
            return True, f"kill switch {self._name} unreadable ({type(cause).__name__}): treated as on"
        text = str(value or "").strip().lower()
        if text in KILL_SWITCH_ON:
            return True, f"kill switch {self._name} is {text!r}"
        return False, f"kill switch {self._name} is {text!r}"


class SsmActions:
    def __init__(self, client: Any) -> None:
        self._ssm = client

    @needs("act", "ssm:SendCommand", on="ec2-instances")
    @needs("act", "ssm:SendCommand", on="ssm-shell-document")  # SendCommand authorises both
    def run_shell(self, instance: str, command: str, comment: str) -> str:
        resp = self._ssm.send_command(
            InstanceIds=[instance_id(instance)],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": [command]},
            Comment=comment[:100],
        )
        return str(resp["Command"]["CommandId"])

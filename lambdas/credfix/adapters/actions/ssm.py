"""SSM calls of the act step: the kill switch parameter, and credfix's own command document
(created by the stack from the configured `ssm_command`) run on a standalone instance that
opted in (e.g. restart the agent that cached credentials)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from credfix.arns import instance_id
from credfix.permissions import needs
from credfix.timefmt import iso_z

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


# The request went out but no answer came back, or the service failed while handling it:
# SSM may have created the command.
_AMBIGUOUS = (ConnectionClosedError, ReadTimeoutError)
SEND_ATTEMPTS = 3
LOOKBACK = timedelta(minutes=5)  # commands looked at before the attempt (clock skew, slow answers)


class AmbiguousSend(RuntimeError):
    """SendCommand may or may not have created the command, and no command with the marker
    was found: the caller must not assume either."""


def _no_blind_resend(
    caught_exception: BaseException | None = None, response: Any = None, operation: Any = None, **_: Any
) -> None:
    """SendCommand is not idempotent (it takes no client token) and botocore resends a call after
    a lost answer or a 5xx: each resend runs the command again. The caller looks for the command
    by its marker instead (`SsmActions.run_document`)."""
    if isinstance(caught_exception, _AMBIGUOUS):
        raise caught_exception
    if response is not None:
        http, parsed = response
        if getattr(http, "status_code", 200) >= 500:
            raise ClientError(parsed, getattr(operation, "name", "SendCommand"))


def _ambiguous(exc: Exception) -> bool:
    if isinstance(exc, _AMBIGUOUS):
        return True
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0) >= 500
    return False


class SsmActions:
    def __init__(self, client: Any) -> None:
        self._ssm = client
        client.meta.events.register_first(
            "needs-retry.ssm.SendCommand", _no_blind_resend, unique_id="credfix-no-blind-resend"
        )

    # SendCommand is authorised on the document and on each instance (opt-in tag): both kinds.
    @needs("act", "ssm:SendCommand", on="ssm-command-document")
    @needs("act", "ssm:SendCommand", on="ssm-command-instances")
    @needs("act", "ssm:ListCommands", on="*")  # ListCommands has no resource-level permission
    def run_document(self, instance: str, document: str, marker: str, now: datetime) -> str:
        """Run credfix's command document (it has no parameters) on one instance, at most once
        for this `marker` (credfix sets it as the command's comment, one per claim).

        After an answer that may hide a created command (lost, timed out, a 5xx), the command is
        looked for by its marker before anything is sent again: found, it is the one that ran;
        not found, the call never created it and is sent again. Returns the command ID."""
        target = instance_id(instance)
        for _attempt in range(SEND_ATTEMPTS):
            try:
                resp = self._ssm.send_command(
                    InstanceIds=[target], DocumentName=document, Comment=marker[:100]
                )
            except Exception as exc:
                if not _ambiguous(exc):
                    raise
                found = self.command_with_marker(target, document, marker, now - LOOKBACK)
                if found:
                    return found  # created; only the answer was lost
                continue
            return str(resp["Command"]["CommandId"])
        raise AmbiguousSend(f"SendCommand to {target}: no answer after {SEND_ATTEMPTS} attempts")

    @needs("act", "ssm:ListCommands", on="*")
    def command_with_marker(self, instance: str, document: str, marker: str, since: datetime) -> str | None:
        """The ID of a command sent to the instance with this marker as its comment, if any."""
        filters = [
            {"key": "DocumentName", "value": document},
            {"key": "InvokedAfter", "value": iso_z(since)},
        ]
        token: dict[str, str] = {}
        for _page in range(10):  # a handful of commands per instance in five minutes, at most
            page = self._ssm.list_commands(InstanceId=instance_id(instance), Filters=filters, **token)
            for command in page.get("Commands", []):
                if command.get("Comment") == marker[:100] and command.get("DocumentName") == document:
                    return str(command["CommandId"])
            if not page.get("NextToken"):
                return None
            token = {"NextToken": page["NextToken"]}
        return None

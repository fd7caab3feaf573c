"""Lambda calls of the act step: replace a function's execution environments, so a
process that cached credentials (or a secret read at init) starts again from scratch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from credfix.permissions import needs
from credfix.timefmt import iso_z

REFRESH_MARKER = "CREDFIX_REFRESHED_AT"


class EnvironmentUnreadable(RuntimeError):
    """The function's variables could not be read back (e.g. KMS decryption denied): an
    update would overwrite them, so the refresh is refused."""


class LambdaActions:
    def __init__(self, client: Any) -> None:
        self._lambda = client

    @needs(
        "act", "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionConfiguration", on="lambda-functions"
    )
    def refresh(self, function: str, now: datetime) -> str:
        """Re-put the function's own environment plus one marker variable.

        Any configuration update of $LATEST makes Lambda start new execution environments for
        later invocations; an environment variable is the update that changes nothing else
        (memory, timeout, role, layers and code stay as they are) and leaves a visible mark of
        when credfix did it. RevisionId makes the update fail rather than undo a concurrent
        change made between the read and the write. Values are passed through, never logged.
        Returns the new revision id.
        """
        config = self._lambda.get_function_configuration(FunctionName=function)
        environment = config.get("Environment") or {}
        if environment.get("Error"):
            code = environment["Error"].get("ErrorCode", "unknown error")
            raise EnvironmentUnreadable(f"environment variables unreadable ({code}); not overwriting them")
        variables = dict(environment.get("Variables") or {})
        variables[REFRESH_MARKER] = iso_z(now)
        guard = {"RevisionId": config["RevisionId"]} if config.get("RevisionId") else {}
        resp = self._lambda.update_function_configuration(
            FunctionName=function, Environment={"Variables": variables}, **guard
        )
        return str(resp.get("RevisionId", ""))

    @needs("act", "lambda:ListTags", on="lambda-functions")
    def tags(self, function_arn: str) -> dict[str, str]:
        return dict(self._lambda.list_tags(Resource=function_arn).get("Tags", {}))

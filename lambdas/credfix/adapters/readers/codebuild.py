"""CodeBuild reads for workload location from a build's log group (`/aws/codebuild/PROJECT`):
the project's service role and the credentials its environment variables carry, and the
build's start time. Plaintext variables are reduced to the key IDs they hold (a secret access
key in a project never leaves this module); SECRETS_MANAGER variables to the secret they name."""

from __future__ import annotations

from typing import Any

from credfix.arns import secret_arn
from credfix.keys import is_access_key_id
from credfix.models.compute import CodeBuildBuild, CodeBuildProject
from credfix.permissions import needs


def _secret_id(value: str) -> str:
    """`secret-id:json-key:version-stage:version-id`, the secret-id an ARN or a name."""
    return secret_arn(value) if value.startswith("arn:") else value.split(":", 1)[0]


def _project(raw: dict[str, Any]) -> CodeBuildProject:
    static: list[tuple[str, str]] = []
    secrets: list[tuple[str, str]] = []
    for variable in (raw.get("environment") or {}).get("environmentVariables") or []:
        name, value = str(variable.get("name") or "?"), str(variable.get("value") or "").strip()
        kind = variable.get("type") or "PLAINTEXT"
        if kind == "PLAINTEXT" and is_access_key_id(value) and len(value) == 20:
            static.append((name, value))
        elif kind == "SECRETS_MANAGER" and value:
            secrets.append((name, _secret_id(value)))
    return CodeBuildProject(
        arn=raw["arn"],
        name=raw["name"],
        service_role=raw.get("serviceRole") or None,
        static_keys=tuple(static),
        secret_refs=tuple(secrets),
    )


def _build(raw: dict[str, Any]) -> CodeBuildBuild:
    return CodeBuildBuild(
        id=raw["id"],
        arn=raw.get("arn") or raw["id"],
        project=raw.get("projectName") or raw["id"].split(":", 1)[0],
        started_at=raw.get("startTime"),
        status=raw.get("buildStatus"),
    )


class CodeBuild:
    def __init__(self, client: Any) -> None:
        self._codebuild = client

    @needs("triage", "codebuild:BatchGetProjects", on="codebuild-projects")
    @needs("cli", "codebuild:BatchGetProjects", on="codebuild-projects")
    def project(self, name: str) -> CodeBuildProject | None:
        found = self._codebuild.batch_get_projects(names=[name]).get("projects") or []
        return _project(found[0]) if found else None

    # BatchGetBuilds is authorised on the build's project ARN.
    @needs("triage", "codebuild:BatchGetBuilds", on="codebuild-projects")
    @needs("cli", "codebuild:BatchGetBuilds", on="codebuild-projects")
    def build(self, build_id: str) -> CodeBuildBuild | None:
        found = self._codebuild.batch_get_builds(ids=[build_id]).get("builds") or []
        return _build(found[0]) if found else None

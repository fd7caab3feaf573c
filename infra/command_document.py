"""credfix's own SSM command document: the configured `ssm_command` as a Command document with
no parameters, so that the act role (whose ssm:SendCommand names this document only) can run
that one command and nothing else. Regional, like every SSM document: the home stack and the
forwarder stacks (every other covered region, and member accounts) each create it when an
SSM command is configured."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ssm as ssm
from constructs import Construct

from credfix.core.remediate.model import SSM_DOCUMENT_NAME


def document_content(command: str) -> dict[str, Any]:
    """A Command document (schema 2.2) that runs the command and takes no parameters."""
    return {
        "schemaVersion": "2.2",
        "description": "credfix: reload the credentials of a standalone instance that opted in "
        "(tag credfix:ssm-command=true); the command is the deployment's ssm_command",
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "reloadCredentials",
                "inputs": {"runCommand": [command]},
            }
        ],
    }


def command_document(scope: Construct, command: str) -> ssm.CfnDocument:
    return ssm.CfnDocument(
        scope,
        "CommandDocument",
        name=SSM_DOCUMENT_NAME,
        document_type="Command",
        document_format="JSON",
        target_type="/AWS::EC2::Instance",
        # A changed command becomes the document's new default version, under the same name
        # (the name is what the act role's policy and CREDFIX_SSM_DOCUMENT refer to).
        update_method="NewVersion",
        content=document_content(command),
    )

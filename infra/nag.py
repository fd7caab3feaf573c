"""cdk-nag v3 acknowledgements: every one carries the reason it is safe."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, *findings: tuple[str, str]) -> None:
    """`findings`: (rule id as cdk-nag prints it after 'AwsSolutions::', reason)."""
    for rule, reason in findings:
        if len(reason) < 30:
            raise ValueError(f"acknowledging {rule} needs a real reason, not {reason!r}")
        Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))

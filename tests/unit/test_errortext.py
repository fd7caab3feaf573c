"""The one redactor for AWS error text (credfix.errortext): what an AWS error may echo of the
request never survives it, and what an operator needs (the code, the operation, the sentence
naming the missing action) does."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ParamValidationError

from credfix.errortext import error_code, error_text, redact_message
from credfix.keys import has_key_id_shape

SECRET = "hunter2-Zq8"
LAMBDA_4KB = (
    "Lambda was unable to configure your environment variables because the environment variables you "
    f'have provided exceeded the 4KB limit. String measured: {{"DB_PASSWORD":"{SECRET}","QUEUE":"jobs"}}'
)
DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/credfix-act/act is not authorized to perform: "
    "lambda:UpdateFunctionConfiguration on resource: arn:aws:lambda:us-east-1:123456789012:function:app "
    "because no identity-based policy allows the lambda:UpdateFunctionConfiguration action"
)


@pytest.mark.parametrize(
    "message",
    [
        LAMBDA_4KB,
        LAMBDA_4KB[: LAMBDA_4KB.index(SECRET) + len(SECRET)],  # an echo cut off mid-object
        f"1 validation error detected: Value '{SECRET}' at 'environment.variables.X' failed to satisfy "
        "constraint: Member must have length less than or equal to 256",
        f"Invalid parameter: DB_PASSWORD={SECRET}",
        f'Bad value "{SECRET}" for parameter',
        f"Values [{SECRET}, other] are not valid",
        f"Parameter validation failed: Invalid type for parameter Timeout, value: {SECRET}, type: str",
        f"first line\nsecond line {{'a': '{SECRET}'}}",
    ],
)
def test_echoed_values_are_removed(message: str) -> None:
    assert SECRET not in redact_message(message)


def test_a_secret_access_key_and_a_key_id_in_free_text() -> None:
    text = redact_message("key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY of AKIAIOSFODNN7EXAMPLE")
    assert "wJalrXUtnFEMI" not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    assert "AKIA…MPLE" in text


def test_the_access_denied_sentence_is_kept_whole() -> None:
    assert redact_message(DENIED) == DENIED
    # anything after the sentence that is not part of it goes
    assert SECRET not in redact_message(f'{DENIED}. Request: {{"x": "{SECRET}"}}')


def test_plain_messages_and_names_survive() -> None:
    for message in (
        "Rate exceeded",
        "The security token included in the request is invalid.",
        "Service not found: arn:aws:ecs:us-east-1:123456789012:service/prod/billing-worker-production-blue",
    ):
        assert redact_message(message) == message


def test_error_text_names_code_message_and_operation() -> None:
    exc = ClientError(
        {"Error": {"Code": "InvalidParameterValueException", "Message": LAMBDA_4KB}},
        "UpdateFunctionConfiguration",
    )
    text = error_text(exc)
    assert text.startswith("InvalidParameterValueException: Lambda was unable to configure")
    assert text.endswith("(UpdateFunctionConfiguration)") and SECRET not in text
    assert error_code(exc) == "InvalidParameterValueException"


def test_error_text_of_botocore_and_other_exceptions() -> None:
    validation = ParamValidationError(
        report=f"Invalid type for parameter Timeout, value: {SECRET}, type: str"
    )
    assert SECRET not in error_text(validation) and error_text(validation).startswith("ParamValidationError")
    closed = error_text(ConnectionClosedError(endpoint_url=f"https://x/?token={SECRET}"))
    assert closed.startswith("ConnectionClosedError:") and SECRET not in closed
    assert error_text(RuntimeError(f"oops {{'p': '{SECRET}'}}")) == "RuntimeError: oops {…}"


def test_long_text_is_one_bounded_line() -> None:
    text = redact_message("word " * 1000 + "\n\x1b[31m", limit=50)
    assert len(text) <= 50 and "\n" not in text and "\x1b" not in text


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("AKIAIOSFODNN7EXAMPLE", True),
        ("ASIAY34FZKBOKMUTVV7A", True),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", False),
        ("AKIAIOSFODNN7EXAMPLEX", False),  # 21 characters
        ("akiaiosfodnn7example", False),
        ("ABIAIOSFODNN7EXAMPLE", False),
        ("", False),
    ],
)
def test_only_values_shaped_like_a_key_id_are_kept(value: str, kept: bool) -> None:
    assert has_key_id_shape(value) is kept


def test_kubernetes_rbac_sentence_is_kept_and_nothing_around_it() -> None:
    """A cluster's Forbidden names the verb, resource and namespace the Role lacks: kept, rebuilt
    from its DNS-name parts; the text around it is redacted as any message is."""
    namespaced = (
        'deployments.apps "ledger-sync" is forbidden: User "credfix" cannot patch resource "deployments" '
        f'in API group "apps" in the namespace "payments": extra {{"token": "{SECRET}"}}'
    )
    assert redact_message(f"could not patch ({namespaced})") == (
        'could not patch (deployments.apps "ledger-sync" is forbidden: User "credfix" cannot patch resource '
        '"deployments" in API group "apps" in the namespace "payments": extra {…})'
    )
    cluster_wide = (
        'namespaces is forbidden: User "x" cannot list resource "namespaces" '
        'in API group "" at the cluster scope'
    )
    assert redact_message(cluster_wide) == cluster_wide
    # A name that is not a DNS name cannot pose as one: the generic redaction applies.
    forged = f'deployments.apps "{SECRET} x" is forbidden: User "credfix" cannot patch resource "deployments"'
    assert SECRET not in redact_message(forged)

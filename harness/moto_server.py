"""moto server, with corrections for fidelity where moto answers differently from AWS.

1. DynamoDB writes are serialised. Real DynamoDB applies each conditional write to an item
   atomically; moto's threaded server checks the condition and writes in two steps without a
   lock, so two racing requests can both pass a condition only one of them should pass.
   credfix's dedup rests on that atomicity, so DynamoDB requests run behind a lock (other
   services stay concurrent).
2. EC2 `DescribeNetworkInterfaces` filters. moto 5.2.5 answers HTTP 500 for the
   `association.public-ip` and `ipv6-addresses.ipv6-address` filters as soon as one interface
   exists, and matches `addresses.private-ip-address` against the primary address only. AWS
   answers with the interfaces that hold the address as a public (Elastic or auto-assigned)
   IPv4 address, an IPv6 address, or any private IPv4 address, primary or secondary (an
   outsider's address: none). `patch_moto()` makes the local AWS answer like AWS, so that no
   test passes because of a 500.
3. Lambda environment size. AWS refuses a function environment whose JSON (compact, as
   `{"NAME":"value",...}`) exceeds 4 KB with an InvalidParameterValueException that quotes
   the whole environment: "Lambda was unable to configure your environment variables because
   the environment variables you have provided exceeded the 4KB limit. String measured: {...}"
   (the message real SDK users report, e.g. with `{"PG_PASSWORD":"hunter2"}` in it; LocalStack
   answers the same). moto 5.2.5 accepts any size. `patch_moto()` adds the check to
   CreateFunction and UpdateFunctionConfiguration, so that credfix's handling of an error that
   echoes secret values is tested on the wire.
4. EventBridge's events as targets receive them. moto 5.2.5 leaves `account` out of the event
   it sends an SQS target; AWS sends every field of the event, `account` (the sender's) among
   them, which the runtime-log intake checks relayed lines against.
5. Signatures of bodiless REST requests. moto 5.2.5 checks a GET without a body (Lambda's
   ListFunctions) against a payload hash of the parsed parameters instead of the empty body the
   client signed, and answers SignatureDoesNotMatch to a valid key once signature checking is
   on; AWS accepts it. The check is given the empty body the client signed.
6. CloudWatch Logs account policies. moto 5.2.5 has no PutAccountPolicy,
   DescribeAccountPolicies or DeleteAccountPolicy; `credfix doctor` reads them. The local AWS
   keeps them per account and region, one subscription filter policy per account and region
   as AWS allows (a second name is refused with LimitExceededException).

Run as `python -m harness.moto_server -p PORT`.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialise_dynamodb(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def _all_private_ips(eni: Any) -> list[str]:
    addresses = [a.get("PrivateIpAddress") for a in eni.private_ip_addresses if isinstance(a, dict)]
    return [ip for ip in [eni.private_ip_address, *addresses] if ip]


LAMBDA_ENVIRONMENT_LIMIT = 4096  # bytes of the compact JSON of the variables


def _check_lambda_environment(spec: dict[str, Any]) -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException

    variables = (spec.get("Environment") or {}).get("Variables")
    if not variables:
        return
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode("utf-8")) > LAMBDA_ENVIRONMENT_LIMIT:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}"
        )


def _patch_lambda_environment_limit() -> None:
    from moto.awslambda.models import LambdaBackend

    if getattr(LambdaBackend.create_function, "credfix_patched", False):
        return
    create, update = LambdaBackend.create_function, LambdaBackend.update_function_configuration

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        _check_lambda_environment(spec)
        return create(self, spec)

    def update_function_configuration(
        self: Any, function_name: str, qualifier: str, body: dict[str, Any]
    ) -> Any:
        _check_lambda_environment(body)
        return update(self, function_name, qualifier, body)

    create_function.credfix_patched = True  # type: ignore[attr-defined]
    LambdaBackend.create_function = create_function  # type: ignore[method-assign]
    LambdaBackend.update_function_configuration = update_function_configuration  # type: ignore[method-assign]


def patch_moto() -> None:
    """Teach moto the AWS behaviours listed in the docstring (2: address filters, 3: the
    Lambda environment limit)."""
    _patch_lambda_environment_limit()
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    original = NetworkInterface.get_filter_value
    if getattr(original, "credfix_patched", False):
        return

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "association.public-ip":
            return self.public_ip
        if filter_name == "ipv6-addresses.ipv6-address":
            return list(self.ipv6_addresses)
        if filter_name in ("addresses.private-ip-address", "private-ip-address"):
            return _all_private_ips(self)
        return original(self, filter_name, method_name)

    get_filter_value.credfix_patched = True  # type: ignore[attr-defined]
    NetworkInterface.get_filter_value = get_filter_value  # type: ignore[method-assign]


_ACCOUNT_POLICY_FIELDS = ("policyName", "policyDocument", "policyType", "scope", "selectionCriteria")


def patch_bodiless_signatures() -> None:
    """Patch 5: a request with no body is checked against the empty body its client signed."""
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase._create_aws_request
    if getattr(original, "credfix_patched", False):
        return

    def create(self: Any) -> Any:
        if not self._body and self._method in ("GET", "HEAD", "DELETE"):
            saved, self._data = self._data, b""
            try:
                return original(self)
            finally:
                self._data = saved
        return original(self)

    create.credfix_patched = True  # type: ignore[attr-defined]
    IAMRequestBase._create_aws_request = create  # type: ignore[method-assign]


def patch_events_account() -> None:
    """Patch 4: the event as AWS delivers it to a target, `account` included."""
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0", ', '"version": "0", "account": "<account>", '
        )


def patch_logs_account_policies() -> None:
    """Patch 6: CloudWatch Logs account policies, per account and region."""
    import json
    import time

    from moto.core.exceptions import JsonRESTError
    from moto.logs.responses import LogsResponse

    if hasattr(LogsResponse, "put_account_policy"):
        return

    def policies(self: Any) -> dict[tuple[str, str], dict[str, Any]]:
        backend = self.logs_backend
        if not hasattr(backend, "credfix_account_policies"):
            backend.credfix_account_policies = {}
        found: dict[tuple[str, str], dict[str, Any]] = backend.credfix_account_policies
        return found

    def put_account_policy(self: Any) -> str:
        policy = {name: self._get_param(name) for name in _ACCOUNT_POLICY_FIELDS if self._get_param(name)}
        kind, name = policy["policyType"], policy["policyName"]
        existing = [n for (t, n) in policies(self) if t == kind]
        if kind == "SUBSCRIPTION_FILTER_POLICY" and existing and name not in existing:
            raise JsonRESTError(
                "LimitExceededException", "Each account can have one account-level subscription filter policy"
            )
        policy.update(accountId=self.current_account, lastUpdatedTime=int(time.time() * 1000))
        policy.setdefault("scope", "ALL")
        policies(self)[(kind, name)] = policy
        return json.dumps({"accountPolicy": policy})

    def describe_account_policies(self: Any) -> str:
        kind, name = self._get_param("policyType"), self._get_param("policyName")
        found = [p for (t, n), p in policies(self).items() if t == kind and name in (None, n)]
        return json.dumps({"accountPolicies": found})

    def delete_account_policy(self: Any) -> str:
        key = (self._get_param("policyType"), self._get_param("policyName"))
        if policies(self).pop(key, None) is None:
            raise JsonRESTError("ResourceNotFoundException", "Policy not found")
        return ""

    LogsResponse.put_account_policy = put_account_policy  # type: ignore[attr-defined]
    LogsResponse.describe_account_policies = describe_account_policies  # type: ignore[attr-defined]
    LogsResponse.delete_account_policy = delete_account_policy  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    patch_moto()
    patch_events_account()
    patch_bodiless_signatures()
    patch_logs_account_policies()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host, args.port, serialise_dynamodb(app), threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    main()

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    patch_moto()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host, args.port, serialise_dynamodb(app), threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    main()

"""A failure recorded in any covered region reaches the home pipeline through the forwarder
rules of the synthesized app (moto routes cross-region event bus targets)."""

from __future__ import annotations

import pytest

from credfix.adapters.stores.incidents import IncidentStore
from harness.pipeline import LocalPipeline
from harness.records import cloudtrail_event
from tests.conftest import load_handler

pytestmark = pytest.mark.integration


def test_a_record_from_each_region_reaches_the_pipeline(pipeline: LocalPipeline) -> None:
    context = {"home_region": "us-east-1", "regions": "eu-central-1,us-west-2,ap-southeast-2"}
    regions = pipeline.deploy_forwarders(context)
    assert sorted(regions) == ["ap-southeast-2", "eu-central-1", "us-west-2"]
    key = "AKIAY34FZKBOKMUTVV7A"
    for region in [*regions, "us-east-1"]:
        pipeline.put_events(
            [
                cloudtrail_event(
                    key,
                    region=region,
                    event_source="dynamodb.amazonaws.com",
                    error_code="UnrecognizedClientException",
                )
            ],
            region=region,
        )
    # Nothing that is not a credential failure is forwarded.
    pipeline.put_events(
        [cloudtrail_event(key, region="eu-central-1", error_code="AccessDenied")], region="eu-central-1"
    )
    pipeline.ingest_poller(load_handler("ingest").handler).drain()
    incident = IncidentStore(pipeline.ddb, pipeline.names.table, reopen_after=pipeline.reopen_after).get(key)
    assert incident is not None
    assert incident.event_count == 4
    assert incident.regions == sorted([*regions, "us-east-1"])

"""Attribution before action: the one rule that says whether failing requests are the
account's own, and which targets an action may then touch (docs/threat-model.md).

Key IDs are public forever, and in a CloudTrail record of a failed call the key ID, the
user agent, the request and the number of records are whatever the caller sent. The caller
cannot forge the address its TCP connection came from, so the source address, with the VPC
endpoint CloudTrail names for a private address, is the only field that attributes a failure:

- a private address through a VPC endpoint of the account: the workload holding that address
  in the endpoint's VPC (scope "workload"), or that VPC when nothing holds it now ("vpc");
  a private address without an endpoint, or through someone else's, attributes nothing (an
  outsider's own VPC can use the same private ranges, and AWS records a private source
  address only for calls through an endpoint);
- a public address of the account (a NAT gateway's or an interface's Elastic IP, an
  auto-assigned public IPv4, an interface's IPv6 address): that address's VPC only ("vpc");
- any other address, a service name or nothing: no attribution ("none").

One other source attributes by construction: a workload's own log line (credfix.core.logs).
Its runtime wrote it into a log group of the account, and only principals of the account can
write there, so the line is the account's, and the workload its group and stream name wrote
it (scope "workload", `runtime_log`). What the line *says* (the error, a key ID it prints) is
still the workload's text: it names the workload, not more.

An action may run only when at least one source is attributed and every attributed source
supports its target: a "workload" source supports the workloads holding its address and their
parents (task -> service, instance -> Auto Scaling group, pod -> its deployment); a "vpc"
source supports workloads running in that VPC, and only for the rotation-straggler verdicts.
The user agent never attributes anything and never raises confidence. Pure functions: the
lookups happen in credfix.core.locate.source_ip.

The one exception is `rotation-drift` (credfix.core.rotation), marked ROTATION below.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from credfix.models.incident import Incident, Origin, SourceAttribution, Verdict, Workload

# Verdicts a VPC-level attribution may act on: the key was rotated and the workload is a
# consumer of the rotated secret found by configuration (DESIGN: rotation stragglers).
STRAGGLER_VERDICTS: frozenset[Verdict] = frozenset({"stale-consumer", "stale-secret"})
ROTATION_DRIFT: Verdict = "rotation-drift"
NOT_ATTRIBUTED = "not attributed"  # every refusal reason starts with this

# Ranges a VPC's private addresses come from (RFC 1918 and the 100.64/10 secondary CIDRs).
VPC_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def address_kind(ip: str | None) -> str:
    """`private` (a VPC-private IPv4), `public` (any other IPv4), `ipv6`, or `not-ip`."""
    if not ip:
        return "not-ip"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "not-ip"
    if address.version == 6:
        return "ipv6"
    return "private" if any(address in net for net in VPC_PRIVATE_RANGES) else "public"


def describe_source(a: SourceAttribution) -> str:
    if a.scope == "rotation":
        return "the account's rotation"
    if a.log and not a.ip:
        return f"log stream {a.log}"
    where = a.ip or "(no address)"
    return f"{where} via {a.vpc_endpoint_id}" if a.vpc_endpoint_id else where


def none(ip: str | None, endpoint: str | None, why: str) -> SourceAttribution:
    return SourceAttribution(ip=ip, vpc_endpoint_id=endpoint, scope="none", why=why)


def without_endpoint(ip: str) -> SourceAttribution:
    return none(
        ip,
        None,
        f"{ip} is a private address recorded without a VPC endpoint; AWS records a private source "
        "address only for calls made through an endpoint, so this record attributes nothing",
    )


def foreign_endpoint(ip: str, endpoint: str, account: str, regions: Sequence[str]) -> SourceAttribution:
    return none(
        ip,
        endpoint,
        f"{ip} came through {endpoint}, which is not a VPC endpoint of account {account} in "
        f"{', '.join(regions)}: an outsider's VPC can use the same private addresses",
    )


def not_ours(ip: str, account: str, regions: Sequence[str]) -> SourceAttribution:
    return none(
        ip,
        None,
        f"{ip} is not an address of account {account} in {', '.join(regions)}: someone outside "
        "the account is using this key ID",
    )


def not_an_address(ip: str | None) -> SourceAttribution:
    return none(ip, None, f"{ip or 'no source address'} is not an IP address: it attributes nothing")


def runtime_log(
    log: str, account: str, region: str | None, holders: Sequence[str], named: str
) -> SourceAttribution:
    """A runtime-log source (`GROUP:STREAM`): written by `named` into a log group of `account`,
    attributed to the workloads found holding that name (`holders`); nothing to act on when
    none is found (the line is still the account's, but names no workload credfix can locate)."""
    group, _, stream = log.partition(":")
    where = f"log group {group} (stream {stream}) of account {account}"
    if not holders:
        return SourceAttribution(
            scope="none",
            account=account,
            region=region,
            log=log,
            why=f"written into {where}, but no running workload matches {named}: nothing to act on",
        )
    return SourceAttribution(
        scope="workload",
        account=account,
        region=region,
        holders=list(holders),
        log=log,
        why=f"written by {named}'s own runtime into {where}: attributed by construction",
    )


def origin(attribution: Sequence[SourceAttribution]) -> Origin:
    """account: every source attributed; outside: none attributed and some source is an IP
    address that is not the account's; mixed: some of each; unknown: no address to judge."""
    inside = [a for a in attribution if a.scope != "none"]
    outside = [a for a in attribution if a.scope == "none" and address_kind(a.ip) != "not-ip"]
    if inside and not outside:
        return "account" if len(inside) == len(attribution) else "mixed"
    if inside:
        return "mixed"
    return "outside" if outside else "unknown"


def holder_family(holders: Sequence[str], workloads: Sequence[Workload]) -> set[str]:
    """The holders and their parents (task -> service, instance -> Auto Scaling group)."""
    family = set(holders)
    for w in workloads:
        if w.id in holders and w.parent:
            family.add(w.parent)
    return family


def supports(
    a: SourceAttribution, workload: Workload, verdict: Verdict | None, workloads: Sequence[Workload]
) -> str | None:
    """None when the attributed source `a` supports acting on `workload`, else why not."""
    if a.scope == "rotation":  # ROTATION: see action_gate
        if verdict != ROTATION_DRIFT:
            return "a rotation's consumers found by configuration are attributed for rotation-drift only"
        if workload.id in holder_family(a.holders, workloads) or (
            workload.type == "ecs-task" and workload.parent in a.holders
        ):
            return None
        return "it is not a consumer of the rotated secret found by configuration on the previous version"
    if a.scope == "workload":
        family = holder_family(a.holders, workloads)
        sibling = workload.parent in family and (  # restarting it = restarting its parent
            workload.type == "ecs-task"
            # a pod of the holder's deployment, in the holder's cluster (names repeat across clusters)
            or (
                workload.type == "eks-pod"
                and any(
                    w.id in a.holders and w.parent == workload.parent and w.cluster == workload.cluster
                    for w in workloads
                )
            )
        )
        if workload.id in family or sibling:
            return None
        holders = ", ".join(a.holders)
        return f"the failing requests from {describe_source(a)} came from {holders}, not this workload"
    if a.scope == "vpc":
        if verdict not in STRAGGLER_VERDICTS:
            return (
                f"{describe_source(a)} attributes the failures to {a.vpc_id} only, which permits restarting "
                f"rotation stragglers (stale-consumer, stale-secret) only, not {verdict}"
            )
        if workload.vpc_id is None:
            return f"the workload's VPC is unknown, so it cannot be shown to run in {a.vpc_id}"
        if workload.vpc_id != a.vpc_id:
            return f"it runs in {workload.vpc_id}, not in {a.vpc_id} where the failing requests came from"
        return None
    return "the source is not attributed"


def action_gate(incident: Incident, workload: Workload | None) -> str | None:
    """None when an action on `workload` is consistent with the incident's attribution, else the
    reason it may not run, starting with "not attributed:"."""
    attributed = [a for a in incident.attribution if a.scope != "none"]
    if not attributed:
        whys = "; ".join(a.why for a in incident.attribution if a.why) or "no source address was recorded"
        return f"{NOT_ATTRIBUTED}: {whys}; no workload is changed"
    if workload is None:
        return f"{NOT_ATTRIBUTED}: no located workload to act on"
    if incident.verdict == ROTATION_DRIFT:
        # ROTATION. No failure started this incident: the account's own authenticated rotation of a
        # watched secret did (an aws.secretsmanager event, checked for the account and the caller;
        # versions and consumers read from the account, never from the event). So a consumer found
        # by configuration counts as attributed, by the "rotation" entry that names it, for this
        # verdict only. Several consumers hold the previous version at once, so each attributed
        # entry stands on its own: one that supports the workload is enough (an address that used
        # the old key successfully supports its holders, as above).
        refusals = [supports(a, workload, incident.verdict, incident.workloads) for a in attributed]
        if any(refusal is None for refusal in refusals):
            return None
        return f"{NOT_ATTRIBUTED}: {refusals[0]}"
    for a in attributed:
        why = supports(a, workload, incident.verdict, incident.workloads)
        if why:
            return f"{NOT_ATTRIBUTED}: {why}"
    return None


def headline(incident: Incident) -> str | None:
    """One sentence for the alert when failures come from outside the account, else None."""
    if incident.origin not in ("outside", "mixed"):
        return None
    # One address may appear with several user agents or endpoints: named once.
    outsiders = list(
        dict.fromkeys(
            a.ip for a in incident.attribution if a.scope == "none" and address_kind(a.ip) != "not-ip"
        )
    )
    shown = ", ".join(str(ip) for ip in outsiders[:3]) + (
        f" and {len(outsiders) - 3} more" if len(outsiders) > 3 else ""
    )
    which = "which is not an address" if len(outsiders) <= 1 else "which are not addresses"
    if incident.origin == "outside":
        return (
            f"The failing requests came from {shown}, {which} of this account: someone "
            "outside is using this key ID; no workload was changed."
        )
    return (
        f"Some failing requests came from {shown}, {which} of this account: someone "
        "outside is using this key ID too; credfix acts only on what the account's own addresses show."
    )

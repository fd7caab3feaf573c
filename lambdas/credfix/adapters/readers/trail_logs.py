"""A trail's log files in S3, for `credfix diagnose|remediate --from s3://BUCKET/PREFIX`.

CloudTrail writes `PREFIX/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/
ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`, where the time is when the file was
delivered and "a log file delivered at a specific time can contain records written at any
point before that time" (CloudTrail User Guide, "CloudTrail log file examples"). So a time
range [since, until) needs the files delivered from `since` to a while after `until`: the
listing walks the folders (one `ListObjectsV2` per folder, `Delimiter='/'`), enters only the
year, month and day folders that can hold such files, and keeps the files whose delivery
stamp is in range. Digest and Insights files (`CloudTrail-Digest`, `CloudTrail-Insight`) are
never read. The records are then filtered on their own `eventTime`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from credfix.permissions import needs

DELIVERY_LAG = timedelta(hours=1)  # files delivered this long after `until` are read too
_LOG_FILE = re.compile(r"_CloudTrail_[a-z0-9-]+_(\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json(?:\.gz)?$")
_DATE_FOLDER = re.compile(r"/CloudTrail/[a-z0-9-]+/(\d{4})/(?:(\d{2})/(?:(\d{2})/)?)?$")
_SKIPPED_FOLDERS = ("/CloudTrail-Digest/", "/CloudTrail-Insight/")


@dataclass(frozen=True)
class LogFile:
    key: str
    size: int
    delivered: datetime


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix); ValueError for anything else."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not an s3://BUCKET/PREFIX URL")
    bucket, _, prefix = url[5:].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ValueError(f"{bucket!r} is not an S3 bucket name")
    return bucket, prefix


def _folder_span(prefix: str) -> tuple[datetime, datetime] | None:
    """The delivery times a year, month or day folder of a trail can hold, or None for any
    other folder."""
    found = _DATE_FOLDER.search("/" + prefix)
    if not found:
        return None
    year, month, day = found.groups()
    y = int(year)
    if month is None:
        return datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)
    m = int(month)
    if not 1 <= m <= 12:
        return None
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    if day is None:
        return start, end
    try:
        start = datetime(y, m, int(day), tzinfo=UTC)
    except ValueError:
        return None
    return start, start + timedelta(days=1)


def delivered_at(key: str) -> datetime | None:
    found = _LOG_FILE.search(key)
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


class TrailLogs:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    @needs("cli", "s3:ListBucket", on="trail-bucket")
    def _folder(self, prefix: str) -> tuple[list[dict[str, Any]], list[str]]:
        objects: list[dict[str, Any]] = []
        folders: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix, Delimiter="/"
        ):
            objects.extend(page.get("Contents", []))
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return objects, folders

    def log_files(self, prefix: str, since: datetime, until: datetime) -> Iterator[LogFile]:
        """The trail's log files under `prefix` that can hold records of [since, until), in key
        order (by account, region, then delivery time)."""
        latest = until + DELIVERY_LAG
        start = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        pending = [start]
        while pending:
            objects, folders = self._folder(pending.pop(0))
            for obj in objects:
                stamp = delivered_at(obj["Key"])
                if stamp is not None and since <= stamp + timedelta(minutes=1) and stamp <= latest:
                    yield LogFile(obj["Key"], int(obj.get("Size", 0)), stamp)
            wanted = []
            for folder in folders:
                if any(skip in "/" + folder for skip in _SKIPPED_FOLDERS):
                    continue
                span = _folder_span(folder)
                if span is not None and (span[1] <= since or span[0] > latest):
                    continue
                wanted.append(folder)
            pending[:0] = sorted(wanted)  # depth first, in key order

    @needs("cli", "s3:GetObject", on="trail-bucket")
    def open(self, key: str) -> IO[bytes]:
        """The object's body as a stream (read as it is consumed, never whole)."""
        body: IO[bytes] = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        return body

"""Bucket helpers of the s3 sink tests (against moto_server)."""

from __future__ import annotations

import contextlib
import gzip
import io
from typing import Any

import orjson
from aiobotocore.session import get_session

from tests.fixtures.servers import ServerProcess

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing-secret"}


def s3_client(server: ServerProcess) -> Any:
    return get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=f"http://{server.address}", **CREDENTIALS
    )


async def create_bucket(server: ServerProcess, bucket: str) -> None:
    async with s3_client(server) as client:
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            await client.create_bucket(Bucket=bucket)


async def objects(server: ServerProcess, bucket: str) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every object of the bucket: key -> (body, head); empty when the bucket does not exist."""
    found: dict[str, tuple[bytes, dict[str, Any]]] = {}
    async with s3_client(server) as client:
        try:
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    reply = await client.get_object(Bucket=bucket, Key=item["Key"], ChecksumMode="ENABLED")
                    async with reply["Body"] as stream:
                        body = await stream.read()
                    found[item["Key"]] = (body, reply)
        except client.exceptions.NoSuchBucket:
            return {}
    return found


def ndjson_records(body: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gzip.decompress(body).splitlines() if line]


def parquet_records(body: bytes) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return list(pq.read_table(io.BytesIO(body)).to_pylist())

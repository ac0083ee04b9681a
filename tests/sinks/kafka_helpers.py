"""Reading a topic back from the Tansu broker (tests of the kafka sink)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True, slots=True)
class Consumed:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


async def consume_all(
    bootstrap: str, topic: str, *, timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None
) -> list[Consumed]:
    """Every record of ``topic`` from the beginning to the current end (empty when the topic is absent)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        request_timeout_ms=5000,
        security_protocol="SSL" if ssl_context else "PLAINTEXT",
        ssl_context=ssl_context,
    )
    await consumer.start()
    try:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            await consumer._client.force_metadata_update()
            ids = consumer.partitions_for_topic(topic)
        if not ids:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[Consumed] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for items in batch.values():
                for r in items:
                    records.append(Consumed(r.partition, r.offset, r.key, r.value, dict(r.headers)))
        return records
    finally:
        await consumer.stop()

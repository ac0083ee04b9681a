"""The ``elastic-integration`` ECS profile: documents shaped like Elastic's Mimecast integration writes them.

Elastic's Mimecast integration (``elastic/integrations``, package ``mimecast``) indexes each log type
in its own dataset (``mimecast.ttp_url_logs``, ``mimecast.dlp_logs`` ...) and its dashboards and
detection rules filter on ``event.dataset`` / ``data_stream.dataset`` and read the fields its ingest
pipelines set. With ``format_options: {ecs_profile: elastic-integration}`` on the ``json`` format,
:func:`elastic_integration_document` rewrites our native document for the streams both have so
those dashboards and rules work on our output unchanged:

* ``event.dataset`` and ``data_stream.{type, dataset, namespace}`` take Elastic's dataset names;
* fields Elastic's pipelines place differently are written where Elastic puts them (the table in
  docs/elastic-compat.md lists every one and why the native profile differs).

Both are per-stream facts, declared with the stream in the registry (``StreamSpec.elastic_dataset``
and ``StreamSpec.elastic``, written in the stream's module with ``streams/elastic_map.py``).

Everything else of the native document stays (extra fields do not break Elastic's dashboards), in
particular ``event.id`` (our stable dedupe id; Elastic's own ``_id`` fingerprints are not
reproducible outside its pipeline) and the original record under ``mimecast.*``. Streams Elastic
does not collect (held messages, hold summary, email queues, rejections, archive views, search logs)
keep their native dataset. Pure: the input document is never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mimecast_siem.streams import CATALOGUE
from mimecast_siem.streams.elastic_map import section

#: ECS profiles the json format knows.
ECS_PROFILES: tuple[str, ...] = ("native", "elastic-integration")

#: Our stream → the dataset of Elastic's Mimecast integration that holds the same records (from the registry).
ELASTIC_DATASETS: Mapping[str, str] = {
    name: spec.elastic_dataset for name, spec in CATALOGUE.items() if spec.elastic_dataset is not None
}


def elastic_dataset(stream: str) -> str | None:
    """Elastic's dataset for ``stream``, or ``None`` when Elastic's integration has no counterpart."""
    return ELASTIC_DATASETS.get(stream)


def elastic_integration_document(
    document: Mapping[str, Any], stream: str, *, namespace: str = "default"
) -> dict[str, Any]:
    """``document`` (native profile) as Elastic's Mimecast integration would index it; a new dict.

    Streams Elastic does not collect come back unchanged apart from ``data_stream`` (their native
    dataset), so one index template can hold every stream.
    """
    out = copy.deepcopy(dict(document))
    spec = CATALOGUE.get(stream)
    dataset = spec.elastic_dataset if spec is not None else None
    event = section(out, "event")
    if spec is not None and dataset is not None:
        event["dataset"] = dataset
        event["module"] = "mimecast"
        if spec.elastic is not None:
            spec.elastic(out)
    out["data_stream"] = {
        "type": "logs",
        "dataset": event.get("dataset") or f"mimecast.{stream}",
        "namespace": namespace,
    }
    return out

"""Mounting the action API on the daemon's HTTP port (the collector's ``mount_action_api`` hook).

The daemon calls :func:`configure_daemon_app` with its health app and its services; the action API
then shares the daemon's state store (audit), its tenants' clients (one session and one rate budget
per app) and its port.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("mimecast_siem.actions")


def configure_daemon_app(app: web.Application, services: Any) -> None:
    """Add ``/v1/actions``, ``/v1/actions/{name}`` and ``/v1/openapi.json`` to the daemon's app.

    ``services`` is the collector's ``DaemonServices`` (settings, store, clients by tenant name).
    With ``actions.enabled: false`` nothing is mounted; without tokens the routes answer 404
    "disabled" so an operator sees why.
    """
    settings = services.settings
    if not settings.actions.enabled:
        log.info("The action API is turned off (actions.enabled is false).")
        return
    # Imported only when the API is on: a daemon without it never loads the 50 actions' specs and
    # models, the HTTP handlers or the OpenAPI generator (start-up and RSS, issue 16).
    from mimecast_siem.actions.access import TokenRegistry, grants_from_settings
    from mimecast_siem.actions.audit import AuditTrail
    from mimecast_siem.actions.http import ActionHttp, add_action_routes
    from mimecast_siem.actions.service import ActionService, ClientPool

    registry = TokenRegistry(grants_from_settings(settings.actions.tokens))
    if not registry.enabled:
        log.info("The action API is disabled: no tokens are configured in actions.tokens.")
    service = ActionService(
        settings,
        audit=AuditTrail(services.store.record_audit),
        clients=ClientPool(shared=getattr(services, "clients", None) or {}),
    )
    add_action_routes(app, ActionHttp(service, registry, idempotency=services.store))

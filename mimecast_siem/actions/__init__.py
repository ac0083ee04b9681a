"""The response-action room: the 50 Mimecast actions as declarative specs, a CLI and an HTTP API.

Other rooms import these names only (docs/actions.md has the details):

* :data:`CATALOGUE` - ``{name: ActionSpec}``, one spec per catalogue action (data, not subclasses).
* :class:`ActionService`, :class:`ActionCall`, :class:`ActionResult` - run a call: validate (before
  any request), build, dry-run or send with ``Priority.ACTION``, shape, audit, count.
* :func:`build_actions_app`, :func:`add_action_routes`, :class:`ActionHttp` - the HTTP API
  (``/v1/actions``, ``/v1/actions/{name}``, ``/v1/openapi.json``); :func:`configure_daemon_app`
  mounts it on the daemon's port (the collector's ``mount_action_api`` hook).
* :func:`openapi_document` - the OpenAPI 3.1 document generated from the specs.
* :class:`TokenRegistry`, :class:`FailedAuthThrottle`, :class:`Scope` - access control.
* :class:`AuditTrail` - audit records to the state store and the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mimecast_siem.actions.daemon import configure_daemon_app

if TYPE_CHECKING:
    from mimecast_siem.actions.access import FailedAuthThrottle, TokenRegistry, grants_from_settings
    from mimecast_siem.actions.audit import AuditTrail
    from mimecast_siem.actions.catalogue import CATALOGUE
    from mimecast_siem.actions.http import ActionHttp, add_action_routes, build_actions_app
    from mimecast_siem.actions.openapi import openapi_document
    from mimecast_siem.actions.outcome import Outcome, Problem
    from mimecast_siem.actions.service import ActionCall, ActionResult, ActionService, ClientPool
    from mimecast_siem.actions.spec import ActionSpec, MimecastCall, ResultKind, Scope


def __getattr__(name: str) -> Any:
    """The room's names, imported on first use: the daemon mounts the API through
    :func:`configure_daemon_app` and, with ``actions.enabled: false``, never loads the rest."""
    if name in ("FailedAuthThrottle", "TokenRegistry", "grants_from_settings"):
        from mimecast_siem.actions import access

        return getattr(access, name)
    if name == "AuditTrail":
        from mimecast_siem.actions import audit

        return getattr(audit, name)
    if name == "CATALOGUE":
        from mimecast_siem.actions import catalogue

        return getattr(catalogue, name)
    if name in ("ActionHttp", "add_action_routes", "build_actions_app"):
        from mimecast_siem.actions import http

        return getattr(http, name)
    if name == "openapi_document":
        from mimecast_siem.actions import openapi

        return getattr(openapi, name)
    if name in ("Outcome", "Problem"):
        from mimecast_siem.actions import outcome

        return getattr(outcome, name)
    if name in ("ActionCall", "ActionResult", "ActionService", "ClientPool"):
        from mimecast_siem.actions import service

        return getattr(service, name)
    if name in ("ActionSpec", "MimecastCall", "ResultKind", "Scope"):
        from mimecast_siem.actions import spec

        return getattr(spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CATALOGUE",
    "ActionCall",
    "ActionHttp",
    "ActionResult",
    "ActionService",
    "ActionSpec",
    "AuditTrail",
    "ClientPool",
    "FailedAuthThrottle",
    "MimecastCall",
    "Outcome",
    "Problem",
    "ResultKind",
    "Scope",
    "TokenRegistry",
    "add_action_routes",
    "build_actions_app",
    "configure_daemon_app",
    "grants_from_settings",
    "openapi_document",
]

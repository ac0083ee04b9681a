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

from mimecast_siem.actions.access import FailedAuthThrottle, TokenRegistry, grants_from_settings
from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.daemon import configure_daemon_app
from mimecast_siem.actions.http import ActionHttp, add_action_routes, build_actions_app
from mimecast_siem.actions.openapi import openapi_document
from mimecast_siem.actions.outcome import Outcome, Problem
from mimecast_siem.actions.service import ActionCall, ActionResult, ActionService, ClientPool
from mimecast_siem.actions.spec import ActionSpec, MimecastCall, ResultKind, Scope

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

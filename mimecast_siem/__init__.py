"""mimecast-siem: Mimecast API 2.0 security logs to SIEMs, plus response actions."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]

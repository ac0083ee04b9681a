"""``python -m mimecast_siem`` runs the same CLI as the ``mimecast-siem`` script."""

from __future__ import annotations

from mimecast_siem.cli import main

raise SystemExit(main())

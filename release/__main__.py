"""Entry point: `python -m release INCIDENT_ID [--yes] [--reactivate-keys] [--reopen-ingress]`."""

from __future__ import annotations

import sys

from release.cli import main

sys.exit(main())

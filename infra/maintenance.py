#!/usr/bin/env python
"""Lakehouse maintenance from the command line: list, optimize, vacuum, restore Delta tables.

    .venv/bin/python infra/maintenance.py list
    .venv/bin/python infra/maintenance.py optimize silver/incidents
    .venv/bin/python infra/maintenance.py vacuum --retention-hours 168 --apply
    .venv/bin/python infra/maintenance.py restore silver/incidents --version 3

Settings come from the same variables as the code location (CRIMEFUSION_LAKE,
CRIMEFUSION_DEPLOYMENT, CRIMEFUSION_S3_*, AWS_*). See docs/operations.md.
"""

import sys

from orchestration.platform.maintenance import main

if __name__ == "__main__":
    sys.exit(main())

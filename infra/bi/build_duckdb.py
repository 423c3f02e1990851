#!/usr/bin/env python
"""Build lake.duckdb: a view per lakehouse Delta table plus the curated views of infra/bi/views.sql.

    .venv/bin/python infra/bi/build_duckdb.py --out lake.duckdb
    .venv/bin/python infra/bi/build_duckdb.py --out bi/lake.duckdb --copy   # snapshots, no extension needed

The lakehouse comes from CRIMEFUSION_LAKE (and CRIMEFUSION_S3_*, AWS_* for
s3://). See docs/operations.md for Superset, DBeaver and QGIS.
"""

import sys

from orchestration.platform.bi import main

if __name__ == "__main__":
    sys.exit(main())

"""Spark SQL over the lakehouse: a temporary view per Delta table, read from its snapshot's file list.

Delta Lake's Spark connector (``delta-spark``) loads its jars from Maven, which
this project's machines cannot reach, so :func:`register_views` reads each table
the way ``jobs/spark/delta.py`` does: the data files of the current snapshot
(``deltalake.DeltaTable.file_uris()``) through Spark's own Parquet reader. Never
point ``spark.read.parquet`` at the table folder: it also returns the files that
later commits removed (until ``vacuum`` deletes them).

A view is a snapshot: it holds the file list of the version current when it was
registered (recorded in :class:`SparkView`); register again to see newer commits.

Notes
-----
Delta transaction protocol (delta-io/delta ``PROTOCOL.md``): a snapshot is the
set of ``add`` actions not removed by a later ``remove``; partition values live
in the log and in hive-style folder names (``col=value/``), not in the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestration.platform.lake import list_tables
from orchestration.resources.lakehouse import Lakehouse

#: Reader features that change which rows or columns a file holds; a plain Parquet read would be wrong.
UNSUPPORTED_READER_FEATURES = {"deletionVectors", "columnMapping"}


@dataclass(frozen=True)
class SparkView:
    """A registered view: its name in Spark SQL, the Delta table and the version it shows."""

    view: str
    table: str
    version: int
    files: int


def view_name(layer: str, name: str) -> str:
    """``gold/district_daily_counts`` -> ``gold_district_daily_counts`` (temporary views take one identifier)."""
    return re.sub(r"\W", "_", f"{layer}_{name}")


def read_table(spark, lakehouse: Lakehouse, layer: str, name: str, *, version: int | None = None):
    """A Spark DataFrame of one Delta table's snapshot, with the Delta schema (partition columns included)."""
    import pyarrow as pa
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    dt = lakehouse.table(layer, name, version)
    unsupported = set(dt.protocol().reader_features or []) & UNSUPPORTED_READER_FEATURES
    if unsupported:
        raise ValueError(f"{layer}/{name} uses Delta reader features {sorted(unsupported)}; its Parquet files alone "
                         f"do not give the table's rows: read it with deltalake or DuckDB delta_scan instead")
    schema = from_arrow_schema(pa.schema(dt.schema().to_arrow()))
    files = dt.file_uris()
    if not files:
        return spark.createDataFrame([], schema)
    reader = spark.read
    partitions = dt.metadata().partition_columns
    if partitions:
        # partition values are only in the folder names: basePath makes Spark read them back as columns
        reader = reader.option("basePath", lakehouse.uri(layer, name))
    df = reader.parquet(*files)
    return df.select(*[F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) if f.name in partitions
                       else F.col(f"`{f.name}`") for f in schema.fields])


def register_views(spark, lakehouse: Lakehouse, layers: tuple[str, ...] = ("reference", "silver", "gold")
                   ) -> list[SparkView]:
    """Register ``<layer>_<table>`` as a temporary view for every Delta table of ``layers``.

    Returns what was registered (view, table, version, files), sorted by table.
    """
    out = []
    for layer, name in list_tables(lakehouse, layers):
        dt = lakehouse.table(layer, name)
        read_table(spark, lakehouse, layer, name, version=dt.version()).createOrReplaceTempView(view_name(layer, name))
        out.append(SparkView(view=view_name(layer, name), table=f"{layer}/{name}", version=dt.version(),
                             files=len(dt.file_uris())))
    return out

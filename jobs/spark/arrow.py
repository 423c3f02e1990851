"""Arrow tables into Spark DataFrames without losing rows.

pyspark 4.3's ``SparkSession.createDataFrame(pyarrow.Table)`` sends
``table.to_batches()`` to the JVM, and the JVM side stops reading at the first
zero-row record batch after the first batch: every later row is dropped, with
no error (measured: chunks ``[100 rows, 0, 100]`` give 100 rows; ``[0, 0,
96,233]`` give 0). A table has zero-row chunks whenever it was concatenated
from parts some of which were empty, which is what ``deltalake``'s
``to_pyarrow_table(filters=...)`` returns for the data files whose statistics
rule them out: a week of CDRs read from silver starts with one empty chunk per
skipped file. :func:`arrow_frame` is the one way this project turns an Arrow
table into a Spark DataFrame.

The module also holds the rest of the Arrow-Spark interop every Spark twin
uses: :func:`spark_schema` (an Arrow schema as a Spark ``StructType``),
:func:`to_ipc`/:func:`from_ipc` (small tables shipped to tasks as bytes) and
:func:`sedona_context` (one SedonaDB context per Python worker).
"""

from __future__ import annotations

import io

import pyarrow as pa

_CTX = None


def arrow_frame(spark, table: pa.Table):
    """A Spark DataFrame holding every row of ``table``.

    Zero-row chunks are dropped before the table goes to the JVM (see the
    module docstring), and dictionary-encoded columns (the synthetic
    generators, Parquet reads), which have no Spark type, are decoded to their
    value type. Timestamps keep their instant: Spark stores them as UTC
    microseconds whatever the session time zone.
    """
    if not isinstance(table, pa.Table):
        raise TypeError(f"table must be a pyarrow.Table, got {type(table).__name__}")
    columns = {c: (table[c].cast(table[c].type.value_type) if pa.types.is_dictionary(table[c].type) else table[c])
               for c in table.column_names}
    table = pa.table(columns)
    batches = [b for b in table.to_batches() if b.num_rows]
    return spark.createDataFrame(pa.Table.from_batches(batches, schema=table.schema))


def spark_schema(schema: pa.Schema):
    """``schema`` as the Spark ``StructType`` that ``mapInArrow``/``applyInArrow`` and ``createDataFrame`` take."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def to_ipc(table: pa.Table | None) -> bytes | None:
    """``table`` as Arrow IPC stream bytes (None stays None): how a small table travels to Spark tasks."""
    if table is None:
        return None
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def from_ipc(data: bytes | None) -> pa.Table | None:
    """The table :func:`to_ipc` wrote (None stays None)."""
    return None if data is None else pa.ipc.open_stream(data).read_all()


def sedona_context():
    """One SedonaDB context per Python worker (workers are reused across tasks)."""
    global _CTX
    if _CTX is None:
        import sedonadb

        _CTX = sedonadb.connect()
    return _CTX

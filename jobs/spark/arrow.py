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
"""

from __future__ import annotations

import pyarrow as pa


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

"""Which phone a CDR row speaks for.

A CDR row is written from one subscriber's side: ``direction == 'in'`` means the
served subscriber (whose cell, IMEI and IMSI the row records) is the callee;
anything else (``out``, missing, or no ``direction`` column) means the caller.
Shared by the fusion and link-analysis kernels.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def _combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _incoming(cdr: pa.Table) -> pa.Array:
    return pc.fill_null(pc.equal(_combined(cdr["direction"]), "in"), False)


def served_party(cdr: pa.Table) -> pa.Array:
    """The phone a CDR row's cell, IMEI and IMSI belong to: the callee for ``in`` rows, else the caller."""
    if "direction" not in cdr.column_names:
        return _combined(cdr["caller"])
    return pc.if_else(_incoming(cdr), _combined(cdr["callee"]), _combined(cdr["caller"]))


def other_party(cdr: pa.Table) -> pa.Array:
    """The phone at the other end of a CDR row: the caller for ``in`` rows, else the callee."""
    if "direction" not in cdr.column_names:
        return _combined(cdr["callee"])
    return pc.if_else(_incoming(cdr), _combined(cdr["caller"]), _combined(cdr["callee"]))

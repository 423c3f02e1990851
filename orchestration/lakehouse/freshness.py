"""Skip an asset whose inputs have not changed since it last ran.

A scheduled run with nothing new should cost its checks, not a recomputation
of every table, a retrained model and redrawn reports. :func:`skip_unchanged`
wraps an asset's compute function. While the function runs, every lakehouse
table it touches (read, probed or written, through the ``Lakehouse``
resource) is traced; when it returns, a *fingerprint* is recorded in
``control/fingerprints``: each traced table's identity and Delta version
(after the asset's own writes), the asset's run config, partition and
settings, crimefusion's code, and the registered MLflow model versions it
depends on. Next time, before running, the same tables are looked at again:
when every one is at the recorded version and nothing else in the
fingerprint moved, the asset does no work and re-reports its previous
materialisation's metadata with ``skipped: inputs unchanged``. Its checks
still run.

What invalidates a fingerprint: any commit to a traced table (another
writer, a rebuild, a new night's data), a table that appeared, vanished or
was re-created (Delta's table id changes), other config, settings or
partition, any change to crimefusion's Python source, a file the previous
materialisation reported (a plot, a map, an export) that no longer exists,
and for model consumers the version an alias points at. Tables in the
``control`` layer (bookkeeping: receipts, watermarks, these fingerprints)
are not traced. ``crimefusion rebuild`` clears the fingerprints.

Assets that follow their inputs incrementally (the fusion group, call
edges) do not need this: with nothing new they already do nothing.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import dagster as dg
import pyarrow as pa

from orchestration.resources.lakehouse import tracing
from orchestration.lakehouse.schemas import FINGERPRINTS

LAYER, TABLE = "control", "fingerprints"


#: Commits that change no row: turning the change feed on, compaction, vacuum. They do not move a fingerprint.
SAME_ROWS = frozenset({"SET TBLPROPERTIES", "OPTIMIZE", "VACUUM START", "VACUUM END"})
#: Newest commits looked through for the last one that changed rows (beyond them: the current version).
LOOKBACK = 10


def table_state(lake, key: str) -> list:
    """``[table id, version of the last commit that changed rows]`` of ``layer/name``; ``[None, None]`` when absent."""
    layer, name = key.split("/", 1)
    with tracing(None):  # looking is not using
        if not lake.exists(layer, name):
            return [None, None]
        dt = lake.table(layer, name)
        version = dt.version()
        for commit in dt.history(LOOKBACK):
            if commit.get("operation") not in SAME_ROWS:
                version = commit.get("version", version)
                break
        return [dt.metadata().id, version]


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of crimefusion's Python source (its four packages): new code recomputes once."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for package in ("orchestration", "jobs", "models", "vision"):
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def model_state(tracking_uri: str, models: Iterable[tuple[str, str | None]]) -> dict:
    """Per ``(name, alias)``: the version the alias points at; per ``(name, None)``: every version registered."""
    from mlflow.exceptions import MlflowException

    from models.registry import aliased, versions

    out = {}
    for name, alias in models:
        if alias is not None:
            found = aliased(tracking_uri, name, alias)
            out[f"{name}@{alias}"] = None if found is None else found.version
            continue
        try:
            out[name] = versions(tracking_uri, name)
        except MlflowException:
            out[name] = None
    return out


def digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def part_digests(parts: dict) -> dict:
    """Each part's digest, and each table's ``[id, version]``: what a log line can name when one moved."""
    out = {k: digest(v)[:16] for k, v in parts.items() if k != "tables"}
    out.update({f"table {k}": v for k, v in parts.get("tables", {}).items()})
    return out


def moved(before: dict, now: dict) -> list[str]:
    """What differs between two :func:`part_digests` (``silver/incidents 3 -> 4``, ``code``...)."""
    out = []
    for k in sorted(set(before) | set(now)):
        a, b = before.get(k), now.get(k)
        if a != b:
            if k.startswith("table ") and isinstance(a, list) and isinstance(b, list):
                what = ("appeared" if a[0] is None else "gone" if b[0] is None
                        else f"v{a[1]} -> v{b[1]}" if a[0] == b[0] else "re-created")
                out.append(f"{k[6:]} {what}")
            else:
                out.append(k.removeprefix("table "))
    return out


def last_fingerprint(lake, asset: str, partition: str) -> tuple[str, list[str], dict] | None:
    """The fingerprint recorded last for ``asset``/``partition``, the tables it covered and its parts."""
    if not lake.exists(LAYER, TABLE):
        return None
    rows = lake.read(LAYER, TABLE, filters=[("asset", "=", asset), ("partition", "=", partition)])
    if not rows.num_rows:
        return None
    last = max(rows.to_pylist(), key=lambda r: r["seq"])
    return last["fingerprint"], json.loads(last["tables"]), json.loads(last["parts"])


def record(lake, asset: str, partition: str, parts: dict) -> None:
    row = {"asset": asset, "partition": partition, "fingerprint": digest(parts),
           "tables": json.dumps(sorted(parts["tables"])), "parts": json.dumps(part_digests(parts), sort_keys=True),
           "recorded_at": datetime.now(timezone.utc), "seq": time.time_ns()}
    lake.append(LAYER, TABLE, pa.Table.from_pylist([row], schema=FINGERPRINTS))


def forget(lake, assets: Iterable[str] | None = None) -> None:
    """Drop recorded fingerprints (all, or of ``assets``): their next run recomputes."""
    from orchestration.resources.lakehouse import in_list

    if not lake.exists(LAYER, TABLE):
        return
    names = None if assets is None else sorted(set(assets))
    if names == []:
        return
    lake.delete(LAYER, TABLE, "true" if names is None else in_list("asset", names))


def _files_exist(metadata: dict) -> bool:
    """Every local file the materialisation reported (path values, and an ``output_files`` JSON list) still exists."""
    for key, value in metadata.items():
        paths = []
        if isinstance(value, dg.PathMetadataValue) and value.path:
            paths = [value.path]
        elif key == "output_files" and isinstance(value, dg.JsonMetadataValue) and isinstance(value.data, list):
            paths = value.data
        if any("://" not in str(p) and not Path(p).exists() for p in paths):
            return False
    return True


def file_digests(paths: Iterable[str | Path]) -> dict[str, str | None]:
    """Content digests of input files (``None`` for a missing one)."""
    out = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            out[str(path)] = None
            continue
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[str(path)] = h.hexdigest()
    return out


def skip_unchanged(*, models: Callable[[dict], Iterable[tuple[str, str | None]]] | None = None,
                   files: Callable[[object, dict], Iterable[str | Path]] | None = None,
                   checks: Callable[[object, dict], list] | None = None):
    """Decorate an asset's compute function (below ``@dg.asset`` / ``@dg.multi_asset``) so it does nothing
    when its inputs did not change.

    The function must take a ``lakehouse`` resource. ``models(kwargs)`` names
    the registered models whose state belongs in the fingerprint: ``(name,
    alias)`` for a model the asset loads by alias, ``(name, None)`` for one it
    registers (so a lost registry retrains). ``files(context, kwargs)`` names
    input files outside the lakehouse (a landed video clip) whose content
    belongs in it. ``checks(context, kwargs)`` evaluates the checks the asset
    reports with its result (``check_specs``), so a skip reports them too. A
    generator function (a multi-asset yielding one result per asset) stays
    one, and a skip yields each asset's previous metadata.
    """

    def wrap(fn):
        generator = inspect.isgeneratorfunction(fn)

        def fingerprint(context, kwargs) -> tuple[str, str, dict]:
            lake = kwargs.get("lakehouse")
            if lake is None:
                raise TypeError(f"{fn.__name__}: skip_unchanged needs the asset to take the lakehouse resource")
            name = context.op_def.name
            partition = _partition(context)
            base = {"code": code_digest(), "config": _config(kwargs.get("config")), "settings": _settings(),
                    "partition": partition}
            if files is not None:
                base["files"] = file_digests(files(context, kwargs))
            return name, partition, base

        def with_models(base: dict, kwargs) -> dict:
            mlflow = kwargs.get("mlflow")
            if models is not None and mlflow is not None:
                return {**base, "models": model_state(mlflow.tracking_uri, models(kwargs))}
            return base

        def unchanged(context, kwargs, name, partition, base) -> dict | None:
            """The previous metadata per asset key when nothing moved, else ``None``."""
            lake = kwargs["lakehouse"]
            last = last_fingerprint(lake, name, partition)
            if last is None:
                return None
            recorded, tables, parts_before = last
            parts = {**with_models(base, kwargs), "tables": {k: table_state(lake, k) for k in tables}}
            if digest(parts) != recorded:
                context.log.info(f"{name}: recomputing; changed since its last run: "
                                 + ", ".join(moved(parts_before, part_digests(parts)) or ["(unknown)"]))
                return None
            previous = {}
            for key in context.selected_asset_keys:
                meta = _previous_metadata(context, key, partition)
                if meta is None or not _files_exist(meta):
                    context.log.info(f"{name}: inputs unchanged, but {key.to_user_string()}'s last materialisation "
                                     f"is not in this Dagster instance or a file it reported is gone; recomputing")
                    return None
                previous[key] = meta
            context.log.info(f"{name}: inputs unchanged since its last run ({len(tables)} tables at the same "
                             f"versions); nothing to do")
            return previous

        def done(kwargs, name, partition, base, traced) -> None:
            lake = kwargs["lakehouse"]
            record(lake, name, partition,
                   {**with_models(base, kwargs), "tables": {k: table_state(lake, k) for k in traced}})

        def skipped(meta: dict) -> dict:
            return {**meta, "skipped": dg.MetadataValue.text("inputs unchanged since the last run")}

        if generator:
            @functools.wraps(fn)
            def wrapper(context, *args, **kwargs):
                name, partition, base = fingerprint(context, kwargs)
                previous = unchanged(context, kwargs, name, partition, base)
                if previous is not None:
                    for key, meta in previous.items():
                        yield dg.MaterializeResult(asset_key=key, metadata=skipped(meta))
                    return
                traced: set[str] = set()
                with tracing(traced):
                    yield from fn(context, *args, **kwargs)
                done(kwargs, name, partition, base, traced)
        else:
            @functools.wraps(fn)
            def wrapper(context, *args, **kwargs):
                name, partition, base = fingerprint(context, kwargs)
                previous = unchanged(context, kwargs, name, partition, base)
                if previous is not None:
                    (meta,) = previous.values()
                    return dg.MaterializeResult(metadata=skipped(meta),
                                                check_results=checks(context, kwargs) if checks else None)
                traced: set[str] = set()
                with tracing(traced):
                    result = fn(context, *args, **kwargs)
                done(kwargs, name, partition, base, traced)
                return result

        # Dagster reads parameters and annotations off the signature: ``fn``'s, its string annotations
        # (``from __future__ import annotations``) resolved in ``fn``'s module
        wrapper.__signature__ = inspect.signature(fn, eval_str=True)
        return wrapper

    return wrap


def _config(config) -> dict | None:
    if config is None:
        return None
    return config.model_dump() if hasattr(config, "model_dump") else dict(config)


def _settings() -> dict:
    from orchestration.settings import load_settings

    try:
        settings = load_settings()
    except Exception as e:  # noqa: BLE001 - an unloadable environment fingerprints as its error
        return {"error": str(e)}
    specs = hashlib.sha256()
    for path in settings.spec_files():
        specs.update(str(path).encode())
        specs.update(path.read_bytes())
    return {**settings.model_dump(mode="json"), "spec_digest": specs.hexdigest()}


def _partition(context) -> str:
    """The asset's partition key; ``""`` for an unpartitioned asset, even inside a partitioned run."""
    partitions_def = getattr(context.assets_def, "partitions_def", None)
    return context.partition_key if partitions_def is not None and context.has_partition_key else ""


def _previous_metadata(context, key, partition: str) -> dict | None:
    """The metadata of asset ``key``'s latest materialisation (of ``partition``) in this Dagster instance."""
    partitions = [partition] if partition else None
    try:
        found = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=1).records
    except Exception:  # noqa: BLE001 - no instance history: not skippable
        return None
    mat = found[0].asset_materialization if found else None
    if mat is None:
        return None
    return {k: v for k, v in mat.metadata.items() if k != "skipped"}

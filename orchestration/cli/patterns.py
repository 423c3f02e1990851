"""Pattern-analysis commands: ``crimefusion near-repeat``.

Heavy libraries (pandas, pyproj, matplotlib, the kernels) are imported inside
the command so that ``crimefusion --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["near_repeat", "load_events", "NearRepeatInputError"]


class NearRepeatInputError(ValueError):
    """An input file that cannot be analysed, with the file, row and field."""


def _resolve_column(columns: list[Any], spec: str, *, option: str, path: Path, has_header: bool) -> Any:
    if spec in columns:
        return spec
    if spec.strip().isdigit():
        k = int(spec)
        if 0 <= k < len(columns):
            return columns[k]
        raise NearRepeatInputError(f"{path}: {option} {spec}: column index out of range; the file has {len(columns)} columns (0-based)")
    hint = "" if has_header else " (with --no-header, give 0-based column numbers)"
    raise NearRepeatInputError(f"{path}: {option} {spec!r}: no such column; columns are {[str(c) for c in columns]}{hint}")


def load_events(
    path: Path,
    *,
    x: str,
    y: str,
    date: str,
    header: bool = True,
    crs: str | None = None,
    date_format: str | None = None,
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Read events from a CSV file as metric x, y and day numbers.

    Parameters
    ----------
    path : Path
        CSV file, one event per row.
    x, y, date : str
        Column names, or 0-based column numbers (files without a header, as
        the Near Repeat Calculator reads them).
    header : bool
        Whether the first row names the columns.
    crs : str, optional
        CRS of the coordinates (``EPSG:4326``, ``4326``, any pyproj input).
        ``None``: coordinates are metres already. A projected CRS in metres is
        used as is; any other (longitude/latitude, feet) is projected to the
        WGS 84 UTM zone that covers the data's bounding box (pyproj
        ``query_utm_crs_info``), whose scale error is below 0.1 % inside its zone.
    date_format : str, optional
        ``strftime`` format of the dates; by default pandas infers it.

    Returns
    -------
    x, y : numpy.ndarray
        Metric coordinates.
    days : numpy.ndarray
        Whole-day numbers (the calendar date as written; times of day are dropped).
    info : dict
        ``n_events``, ``crs`` (input) and ``metric_crs`` (used for distances).

    Raises
    ------
    NearRepeatInputError
        Missing file or column, non-numeric coordinate, unparseable date, with
        the row (1-based data row and file line) and field.
    """
    import numpy as np
    import pandas as pd

    if not path.is_file():
        raise NearRepeatInputError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, header=0 if header else None, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise NearRepeatInputError(f"{path}: cannot read as CSV: {exc}") from None
    if len(df) < 2:
        raise NearRepeatInputError(f"{path}: need at least 2 events, found {len(df)} rows")
    columns = list(df.columns)
    cols = {
        opt: _resolve_column(columns, spec, option=opt, path=path, has_header=header)
        for opt, spec in (("--x", x), ("--y", y), ("--date", date))
    }
    line_offset = 2 if header else 1  # file line of data row 0

    def where(row: int, opt: str) -> str:
        return f"{path}: row {row + 1} (line {row + line_offset}), field {cols[opt]!s} ({opt})"

    coords = {}
    for opt in ("--x", "--y"):
        raw = df[cols[opt]].str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise NearRepeatInputError(f"{where(row, opt)}: {raw.iloc[row]!r} is not a number")
        coords[opt] = num.to_numpy(dtype=float)

    raw_dates = df[cols["--date"]].str.strip()
    try:
        parsed = pd.to_datetime(raw_dates, format=date_format, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise NearRepeatInputError(f"{path}: dates in field {cols['--date']!s} (--date) do not parse: {exc}") from None
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        fmt = f" with format {date_format!r}" if date_format else "; give --date-format, e.g. %d/%m/%Y"
        raise NearRepeatInputError(f"{where(row, '--date')}: {raw_dates.iloc[row]!r} is not a date{fmt}")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)  # keep the wall-clock date as written
    days = parsed.to_numpy().astype("datetime64[D]").astype(np.int64)

    xs, ys = coords["--x"], coords["--y"]
    info: dict[str, Any] = {"n_events": len(df), "crs": crs, "metric_crs": None}
    if crs is not None:
        xs, ys, info["metric_crs"] = _to_metric(xs, ys, crs, path)
    return xs, ys, days, info


def _to_metric(xs: Any, ys: Any, crs: str, path: Path) -> tuple[Any, Any, str]:
    import numpy as np
    from pyproj import CRS, Transformer
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info
    from pyproj.exceptions import CRSError

    try:
        src = CRS.from_user_input(int(crs) if crs.strip().isdigit() else crs)
    except CRSError as exc:
        raise NearRepeatInputError(f"--crs {crs!r}: unknown CRS ({exc})") from None
    if src.is_projected and all((a.unit_name or "").lower() in ("metre", "meter") for a in src.axis_info):
        return xs, ys, src.to_string()
    to_lonlat = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(xs, ys)
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NearRepeatInputError(
            f"{path}: row {row + 1}: coordinates ({xs[row]}, {ys[row]}) are not valid in {crs}; "
            "is --x the longitude/easting and --y the latitude/northing?"
        )
    aoi = AreaOfInterest(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    utm = query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)
    if not utm:
        raise NearRepeatInputError(f"{path}: no UTM zone covers the data (lon {lon.min()}..{lon.max()}); project it first")
    dst = CRS.from_epsg(int(utm[0].code))
    px, py = Transformer.from_crs("EPSG:4326", dst, always_xy=True).transform(lon, lat)
    return np.asarray(px), np.asarray(py), f"EPSG:{utm[0].code}"


def _print_table(result: Any, info: dict[str, Any], alpha: float) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from jobs.patterns.near_repeat import band_labels

    console = Console()
    title = (
        f"Knox ratios (observed / mean expected), {result.n_events:,} events, {result.n_pairs:,} pairs, "
        f"{result.nrep} permutations, {result.method} distance"
    )
    table = Table(title=title, caption=f"[bold]bold*[/bold]: p <= {alpha:g} and ratio > 1; (n) observed pairs")
    table.add_column("distance \\ time", style="cyan")
    for label in band_labels(result.tds, "days"):
        table.add_column(label, justify="right")
    for i, label in enumerate(band_labels(result.sds, "m")):
        cells = []
        for j in range(len(result.tds) - 1):
            r, p, n = result.knox_ratio[i, j], result.p_value[i, j], int(result.observed[i, j])
            text = ("n/a" if not np.isfinite(r) else f"{r:.2f}") + f" ({n:,})"
            cells.append(f"[bold red]{text}*[/bold red]" if (p <= alpha and r > 1) else text)
        table.add_row(label, *cells)
    console.print(table)
    if info.get("metric_crs"):
        console.print(f"coordinates projected from {info['crs']} to {info['metric_crs']}")


def near_repeat(
    file: Annotated[Path, typer.Argument(help="CSV file of events, one per row.")],
    x: Annotated[str, typer.Option("--x", help="X / longitude column: name, or 0-based number with --no-header.")],
    y: Annotated[str, typer.Option("--y", help="Y / latitude column.")],
    date: Annotated[str, typer.Option("--date", help="Date column (times of day are ignored).")],
    no_header: Annotated[bool, typer.Option("--no-header", help="The file has no header row.")] = False,
    crs: Annotated[
        str | None,
        typer.Option("--crs", help="CRS of x/y, e.g. EPSG:4326; default: metres already. Non-metric input is projected to its UTM zone."),
    ] = None,
    sds: Annotated[str, typer.Option("--sds", help="Spatial band edges in metres, bands [a, b).")] = "0,1,200,400,inf",
    tds: Annotated[str, typer.Option("--tds", help="Temporal band edges in days, bands [a, b).")] = "0,1,2,3,inf",
    method: Annotated[str, typer.Option("--method", help="euclidean or manhattan.")] = "manhattan",
    nrep: Annotated[int, typer.Option("--nrep", min=1, help="Number of date permutations.")] = 99,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the permutations.")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a heat-table PNG here.")] = None,
    date_format: Annotated[str | None, typer.Option("--date-format", help="strftime format of the dates.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level for the marks.")] = 0.05,
) -> None:
    """Near repeat analysis (Knox test): are events close in space also close in time?

    Counts pairs of events by distance band and time band, compares them with
    Monte Carlo permutations of the dates, and prints Knox ratios (observed /
    expected) and p-values, like Ratcliffe's Near Repeat Calculator. In the
    JSON, the infinite last edge is the string "inf" and undefined ratios are null.
    """
    from rich.console import Console

    from jobs.patterns.near_repeat import knox_test, parse_band_edges
    from orchestration.cli.options import fail

    if method not in ("euclidean", "manhattan"):
        raise fail(f"--method must be 'euclidean' or 'manhattan', got {method!r}")
    try:
        sds_edges = parse_band_edges(sds, name="--sds")
        tds_edges = parse_band_edges(tds, name="--tds")
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        xs, ys, days, info = load_events(file, x=x, y=y, date=date, header=not no_header, crs=crs, date_format=date_format)
    except NearRepeatInputError as exc:
        raise fail(str(exc)) from None

    with Console(stderr=True).status(f"Knox test on {info['n_events']:,} events, {nrep} permutations..."):
        result = knox_test(xs, ys, days, sds=sds_edges, tds=tds_edges, method=method, nrep=nrep, seed=seed)  # type: ignore[arg-type]
    _print_table(result, info, alpha)

    if json_out is not None:
        payload = result.to_dict() | {
            "input": {"file": str(file), "crs": info["crs"], "metric_crs": info["metric_crs"], "alpha": alpha},
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        Console(stderr=True).print(f"wrote {json_out}")
    if plot is not None:
        from jobs.patterns.plots import knox_heatmap

        plot.parent.mkdir(parents=True, exist_ok=True)
        knox_heatmap(result, alpha=alpha).savefig(plot, dpi=150)
        Console(stderr=True).print(f"wrote {plot}")


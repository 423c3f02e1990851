"""Anomaly report: a self-contained HTML page an analyst can brief from, and one plot per alerted series.

Returns the HTML text and matplotlib figures; the caller writes the files
(``figures[name].savefig(dir / name)`` next to the HTML, which links them by
name). The page loads nothing from the network (inline style, local PNGs).

What the page states, in order: when its data ends ("data as of": the end of
the latest window scored, not the day it was run), when it was generated and
for which scoring day; a summary per feed; the top alerts; a glossary of every
column, quoting the settings that produced them; the alerted series plotted;
the most unusual entities of each model with their score as a percentile among
the entities that model scored, the raw score kept and its scale explained.
Every time is shown in one named IANA time zone.
"""

from __future__ import annotations

import datetime as dt
import html

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib import dates as mdates
from matplotlib.figure import Figure

from jobs.anomalies.families import FAMILIES, SEVERITIES
from jobs.anomalies.reports import check_timezone, local_time, local_window
from jobs.anomalies.spikes import SpikeParams

__all__ = ["DETECTORS", "anomaly_report", "plot_series"]

SEVERITY_COLORS = {"critical": "tab:red", "warning": "tab:orange", "info": "gold"}
#: What each feed's series count (its unit on the plots' y axis), from :data:`jobs.anomalies.families.FAMILIES`.
FEED_WHAT = {f.feed: f.what for f in FAMILIES}
#: What a series key of each feed names.
FEED_KEY = {"atm_withdrawals": "ATM terminal", "cell_calls": "cell site", "district_crimes": "source|district",
            "osint_posts": "place name, or h3:<cell>"}

#: Per detector: its name, what its raw score means, and the unit of a feature's contribution.
DETECTORS = {
    "isolation_forest": (
        "Isolation Forest",
        "Isolation Forest anomaly score 2<sup>-E[h]/c</sup> in (0, 1) (Liu, Ting &amp; Zhou 2008): how few "
        "random splits it takes to isolate the entity from the others, relative to an average point. Around "
        "0.5 is ordinary; the closer to 1, the faster it is isolated. It is not a probability, and scores of "
        "different models are not comparable.",
        "path-length credit (per tree, 1/path length for every split on the feature; summed over trees)",
    ),
    "ecod": (
        "ECOD",
        "ECOD outlier score (Li et al. 2022): the sum over features of &minus;ln(tail probability) of the "
        "entity's value among the entities the model was trained on. One feature in the most extreme 1 % "
        "adds about 4.6, so 30 means several features far out in their tails at once. Unbounded, not a "
        "probability, and not comparable with other models' scores.",
        "&minus;ln tail probability of that feature (the contributions add up to the score)",
    ),
}

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.meta dt{font-weight:600}
dl.meta dd{margin:0}dl.gloss dt{font-weight:600;margin-top:.5em}dl.gloss dd{margin-left:1.5em}
.sev-critical{color:#b00;font-weight:600}.sev-warning{color:#b60}.sev-info{color:#776a00}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}code{background:#f6f6f6;padding:0 .2em}
.note{color:#555;font-size:.9em}
"""


# ---------------------------------------------------------------------------------------------- formatting
def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """An HTML table; header cells may hold markup, body cells are escaped text (numeric columns right-aligned)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class='n'>{_e(c)}</td>" if i in numeric else f"<td>{_e(c)}</td>"
                         for i, c in enumerate(r)) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _prob(v) -> str:
    if v is None or pd.isna(v):
        return ""
    return "< 1e-300" if v == 0 else f"{v:.1e}" if v < 0.001 else f"{v:.3f}"


def _pct(v, n: int) -> str:
    """A percentile among ``n`` entities, with the decimals that tell neighbours apart (one for hundreds, three
    for a hundred thousand), never rounded up to 100 (only the top score is the 100th)."""
    if v is None or pd.isna(v):
        return ""
    digits = int(min(3, max(1, np.ceil(np.log10(max(n, 1))) - 2)))
    shown = np.floor(v * 10**digits + 1e-9) / 10**digits
    return "100" if v >= 100 else f"{shown:.{digits}f}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 or word.endswith("s") else f"{n:,} {word}s"


def _unit(feed: str | None, freq: str | None) -> str:
    if feed in FEED_WHAT:
        return FEED_WHAT[feed]
    return f"count per {freq}" if freq else "count per window"


# ---------------------------------------------------------------------------------------------- plots
def _times(values: pd.Series, timezone: str) -> np.ndarray:
    """Aware datetimes in ``timezone`` (matplotlib places them by their instant, the formatter labels them local)."""
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).tz_convert(timezone).to_pydatetime()


def plot_series(rows: pd.DataFrame, key: str, *, timezone: str = "UTC", unit: str = "count per window",
                band_level: float = 0.95) -> Figure:
    """One series: observed counts, expected baseline, the ``lower``-``upper`` band and the alerted windows.

    Times on the x axis are in ``timezone`` (named in the axis title); tick
    labels are concise dates (``ConciseDateFormatter``), so they do not
    overlap however long the span; the legend sits above the axes, outside the data.
    """
    check_timezone(timezone)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.add_subplot()
    r = rows.sort_values("window_start")
    # a step plot drawn "post" needs the end of the last window to show it
    t = _times(pd.concat([r["window_start"], r["window_end"].iloc[-1:]]), timezone)

    def ext(col: str) -> np.ndarray:
        v = r[col].to_numpy(dtype=np.float64)
        return np.append(v, v[-1:])

    ax.fill_between(t, ext("lower"), ext("upper"), step="post", alpha=0.25, color="tab:blue", lw=0,
                    label=f"expected range ({band_level:.0%}: lower to upper)")
    ax.step(t, ext("expected"), where="post", color="tab:blue", lw=1, label="expected (baseline)")
    ax.step(t, ext("observed"), where="post", color="black", lw=0.8, label="observed")
    a = r[r["alert"]]
    start, end = pd.to_datetime(a["window_start"], utc=True), pd.to_datetime(a["window_end"], utc=True)
    a_t = _times(start + (end - start) / 2, timezone)  # mid-window, on the step drawn for it
    for severity in SEVERITIES:
        m = (a["severity"] == severity).to_numpy()
        if m.any():
            ax.scatter(a_t[m], a["observed"].to_numpy()[m], color=SEVERITY_COLORS[severity], zorder=3, s=28,
                       edgecolors="black", linewidths=0.4, label=f"alert: {severity}")
    locator = mdates.AutoDateLocator(tz=timezone, minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone))
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"window start, time in {timezone}")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3, lw=0.5)
    ax.set_title(f"{key}: {_plural(len(a), 'alert')}", loc="left", fontsize=10)
    fig.legend(loc="outside upper right", fontsize=8, ncols=6, frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------- sections
def _header(title: str, df: pd.DataFrame, *, timezone: str, scoring_day, generated_at) -> tuple[str, str]:
    """The title (with the data end) and the block saying what the data covers and when the page was made."""
    data_end = pd.to_datetime(df["window_end"], utc=True).max() if len(df) else None
    data_start = pd.to_datetime(df["window_start"], utc=True).min() if len(df) else None
    full = f"{title}, data as of {local_time(data_end, timezone)}" if data_end is not None else title
    items = [
        ("Data as of", f"{local_time(data_end, timezone)}: end of the latest window scored"
         if data_end is not None else "no scored windows (no spike alerts were stored for this scoring day)"),
        ("Windows shown", f"{local_time(data_start, timezone)} to {local_time(data_end, timezone)}"
         if data_end is not None else "none"),
        ("Scoring day", f"{scoring_day} (the run that scored the data up to the end of this UTC day; "
                        "its look-back ends at the last data before then)" if scoring_day else "not given"),
        ("Generated", local_time(generated_at, timezone)),
        ("Times shown in", f"{timezone}"),
    ]
    meta = "<dl class='meta'>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"
    return full, meta


def _summary(df: pd.DataFrame, alerts: pd.DataFrame, timezone: str) -> str:
    """Prose and one row per feed: what is counted, the windows shown, series and alerts by severity."""
    if df.empty:
        return "<p>No spike windows were stored for this scoring day, so there are no alerts to report.</p>"
    counts = alerts["severity"].value_counts()
    by_sev = ", ".join(f"{int(counts.get(s, 0)):,} {s}" for s in SEVERITIES)
    feeds = df["feed"].nunique()
    prose = (f"<p><strong>{_plural(len(alerts), 'alert')}</strong> ({by_sev}) in "
             f"{_plural(alerts['series_key'].nunique() if len(alerts) else 0, 'series')} of "
             f"{_plural(feeds, 'feed')}. Only series that alerted at least once are stored and shown; their other "
             f"windows give the baseline drawn in the plots.</p>")
    rows = []
    for feed, g in df.groupby("feed", sort=True):
        a = alerts[alerts["feed"] == feed]
        sev = a["severity"].value_counts()
        freq = g["freq"].dropna().iloc[0] if g["freq"].notna().any() else ""
        rows.append([feed, _unit(feed, freq), freq, local_time(g["window_start"].min(), timezone, zone=False),
                     local_time(g["window_end"].max(), timezone, zone=False), f"{g['series_key'].nunique():,}",
                     f"{len(a):,}", *(f"{int(sev.get(s, 0)):,}" for s in SEVERITIES)])
    header = ["feed", "counted", "period", f"first window starts ({_e(timezone)})",
              f"last window ends ({_e(timezone)})", "series", "alerts", *SEVERITIES]
    return prose + _table(header, rows, numeric={5, 6, 7, 8, 9})


def _alerts_table(alerts: pd.DataFrame, timezone: str, top_n: int) -> str:
    if alerts.empty:
        return "<p>No alerts.</p>"
    rows = []
    for r in alerts.head(top_n).itertuples():
        ratio = r.observed / r.expected if r.expected and r.expected > 0 else float("inf")
        rows.append([r.severity, r.feed, str(r.series_key)[:48], local_window(r.window_start, r.window_end, timezone),
                     f"{r.observed:,}", f"{r.expected:.1f}" if r.expected >= 1 else f"{r.expected:.2g}", f"{r.lower:.0f}", f"{r.upper:.0f}",
                     "" if not np.isfinite(ratio) else f"{ratio:.1f}x", _prob(r.p_value), _prob(r.q_value)])
    header = ["severity", "feed", "series", f"window ({_e(timezone)})", "observed", "expected", "lower", "upper",
              "observed / expected", "p_value", "q_value"]
    more = (f"<p class='note'>The {top_n} most significant of {len(alerts):,} alerts (lowest q_value first, then "
            "largest count).</p>" if len(alerts) > top_n else "")
    table = _table(header, rows, numeric=set(range(4, 11)))
    for s in SEVERITIES:  # colour the severity cells
        table = table.replace(f"<td>{s}</td>", f"<td class='sev-{s}'>{s}</td>")
    return table + more


def _glossary(params: SpikeParams, stated: bool, timezone: str) -> str:
    p = params
    lo_q, hi_q = (1 - p.band_level) / 2, 1 - (1 - p.band_level) / 2
    where = ("as stored by the spike_alerts run" if stated else
             "the defaults of SpikeParams (the run's own settings were not available)")
    terms = [
        ("severity", f"Among alerts: <b>critical</b> if q_value &le; {p.critical_q:g} and observed &ge; "
                     f"{p.critical_ratio:g} &times; expected; else <b>warning</b> if q_value &le; {p.warning_q:g}; "
                     "else <b>info</b>."),
        ("feed, series", "The feed and the series within it: "
                         + "; ".join(f"<code>{_e(f)}</code> counts {_e(w)} (series = {_e(FEED_KEY.get(f, 'key'))})"
                                     for f, w in FEED_WHAT.items()) + "."),
        (f"window ({_e(timezone)})", f"The period counted, start to end, local time in {_e(timezone)}. Hourly "
                                     "feeds count clock hours; daily feeds count days, which may not begin at local "
                                     "midnight (district crimes are counted per UTC day)."),
        ("observed", "Events counted in the window."),
        ("expected", "The count the baseline expects for this window: a robust quasi-Poisson log-linear model of "
                     "the series over its look-back span, with day-of-week effects (and hour-of-day effects for "
                     "hourly feeds) and a linear trend; earlier spikes are downweighted so that they do not inflate "
                     "it (improved Farrington algorithm, Noufaily et al. 2013)."),
        ("lower, upper", f"The lower and upper bounds of the central {p.band_level:.0%} range of counts the "
                         f"baseline expects for the window: the {lo_q:.1%} and {hi_q:.1%} quantiles (smallest count "
                         "k with P(count &le; k) &ge; that probability) of a negative binomial with mean "
                         "<code>expected</code> and variance <code>dispersion</code> &times; <code>expected</code> "
                         "(dispersion: the series' variance-to-mean ratio, at least 1, which is Poisson). A count "
                         "above <code>upper</code> is unusual for that one window, but alerts only under the rule "
                         "below, which allows for the number of windows tested."),
        ("observed / expected", "How many times the expected count was observed."),
        ("p_value", "The probability of a count at least as large as <code>observed</code> if the baseline holds: "
                    "the upper tail P(count &ge; observed) of that negative binomial (one-sided: only rises are "
                    "tested)."),
        ("q_value", "The Benjamini-Hochberg false-discovery-rate adjusted p-value (Benjamini &amp; Hochberg 1995), "
                    "adjusted across every window of every series of the same feed in the scoring run. Raising an "
                    "alert for every window with q_value &le; &alpha; keeps the expected share of false alerts "
                    "among them at or below &alpha;."),
        ("alert", f"A window alerts when q_value &le; {p.fdr_alpha:g}, observed &ge; {p.min_observed}, observed "
                  f"&minus; expected &ge; {p.min_excess:g} and observed &ge; {p.min_ratio:g} &times; expected (the "
                  "minimum counts keep quiet series from alerting on 0 &rarr; 2)."),
        ("rank", "Entities: 1 is the most unusual entity of its type."),
        ("percentile", "Entities: the percentage of the entities of the same type that the same model scored in "
                       "the same run with a score at or below this one (100 is the highest score). Read it across "
                       "models: the 99.5th percentile is as unusual among accounts as among phones."),
        ("score", "Entities: the model's raw score, on that model's own scale (explained under each entity table); "
                  "compare entities of different types by percentile only."),
        ("flagged", "Entities: the score is above the model's threshold, the (1 &minus; contamination) quantile of "
                    "its training scores (contamination 1 % by default): about the top 1 % when it was trained."),
        ("top features", "Entities: the three features that contributed most to the score, each with its "
                         "contribution (unit per model, under each entity table)."),
    ]
    body = "".join(f"<dt><code>{k}</code></dt><dd>{v}</dd>" if "(" not in k else f"<dt>{k}</dt><dd>{v}</dd>"
                   for k, v in terms)
    settings = _table(["setting", "value", "meaning"], [
        ["fdr_alpha", f"{p.fdr_alpha:g}", "false discovery rate of the alerts"],
        ["band_level", f"{p.band_level:g}", "central probability of the lower-upper range"],
        ["min_observed", f"{p.min_observed}", "smallest count that can alert"],
        ["min_excess", f"{p.min_excess:g}", "smallest observed minus expected that can alert"],
        ["min_ratio", f"{p.min_ratio:g}", "smallest observed / expected that can alert"],
        ["warning_q, critical_q", f"{p.warning_q:g}, {p.critical_q:g}", "q_value limits of warning and critical"],
        ["critical_ratio", f"{p.critical_ratio:g}", "smallest observed / expected of a critical alert"],
        ["window", f"{p.window}", "periods per tested window"],
    ], numeric={1})
    return (f"<h2 id='glossary'>Glossary</h2><p class='note'>Settings quoted are {_e(where)}.</p>"
            f"<dl class='gloss'>{body}</dl>{settings}")


def _entity_section(label: str, table: pa.Table, top_n: int, timezone: str) -> str:
    from models.anomalies.scoring import ENTITY_MODELS
    from models.anomalies.serving import score_percentiles

    e = table.to_pandas()
    kind = e["entity_type"].iloc[0] if "entity_type" in e and len(e) else label.removesuffix("s")
    spec = next((s for s in ENTITY_MODELS if s.entity_type == kind), None)
    name, scale, unit = DETECTORS.get(spec.detector if spec else "", ("the model", "The model's raw score; "
                                                                       "higher is more unusual.", "model units"))
    n = len(e)
    if "score_pct" not in e or e["score_pct"].isna().any():
        e["score_pct"] = score_percentiles(e["score"].to_numpy(dtype=np.float64))
    e = e.sort_values("score", ascending=False, kind="stable").head(top_n)
    feats = [", ".join(f"{d['feature']} ({d['contribution']:.2g})" for d in (v if v is not None else []))
             for v in e["top_features"]]
    rows = [[f"{r.rank:,}", r.entity, _pct(r.score_pct, n), f"{r.score:.4g}", "yes" if r.flagged else "no", f]
            for r, f in zip(e.itertuples(), feats)]
    who = f"Scored by {name}"
    if "model_uri" in e and len(e):
        who += f" (<code>{_e(e['model_uri'].iloc[0])}</code>)"
    if "scored_at" in e and len(e):
        who += f" at {_e(local_time(e['scored_at'].iloc[0], timezone))}"
    return (f"<h2>Most unusual {_e(label)}</h2>"
            f"<p>{who}, over every {_e(kind)} in the feature table ({n:,} scored). <b>percentile</b>: share of "
            f"those {n:,} {_e(label)} scoring at or below this one. <b>score</b>: {scale} <b>top features</b>: "
            f"contribution in {unit}.</p>"
            + _table(["rank", _e(kind), f"percentile (of {n:,} {_e(label)})", "score", "flagged", "top features"],
                     rows, numeric={0, 2, 3}))


# ---------------------------------------------------------------------------------------------- report
def anomaly_report(
    spikes: pa.Table,
    *,
    entity_scores: dict[str, pa.Table] | None = None,
    top_n: int = 20,
    max_plots: int = 12,
    title: str = "Anomaly report",
    timezone: str = "UTC",
    scoring_day: dt.date | None = None,
    generated_at: pd.Timestamp | None = None,
    spike_params: SpikeParams | None = None,
) -> tuple[str, dict[str, Figure]]:
    """Build the report.

    Parameters
    ----------
    spikes : pyarrow.Table
        :data:`jobs.anomalies.schemas.SPIKES` rows, all windows of the series
        shown (so that baselines can be drawn), optionally with the ``feed`` and
        ``freq`` columns of gold ``spike_alerts``.
    entity_scores : dict of str to pyarrow.Table, optional
        ``{"phones": table, "accounts": table}``: gold ``entity_anomalies`` rows
        of one type, or :meth:`models.anomalies.serving.OnnxScorer.score_table`
        output. Without ``score_pct`` the percentiles are computed over the
        table's rows (one model's one run).
    top_n : int
        Alerts and entities listed per section.
    max_plots : int
        Series plotted (those of the most significant alerts first).
    title : str
        Page title; ", data as of <end of the latest window>" is appended.
    timezone : str
        IANA time zone of every time shown (named beside each).
    scoring_day : datetime.date, optional
        The ``spike_alerts`` partition the spikes come from, stated on the page.
    generated_at : pandas.Timestamp, optional
        When the report is generated (default: now).
    spike_params : SpikeParams, optional
        Settings that produced the spikes, quoted in the glossary (default:
        :class:`SpikeParams` defaults, said so).

    Returns
    -------
    (str, dict of str to Figure)
        HTML text, and figures keyed by the file name the HTML links to.
    """
    check_timezone(timezone)
    generated_at = pd.Timestamp.now(tz="UTC") if generated_at is None else generated_at
    df = spikes.to_pandas()
    for col, default in (("feed", "series"), ("freq", None)):
        if col not in df:
            df[col] = default
    alerts = df[df["alert"]].sort_values(["q_value", "observed"], ascending=[True, False], kind="stable")
    full_title, meta = _header(title, df, timezone=timezone, scoring_day=scoring_day, generated_at=generated_at)
    params = spike_params or SpikeParams()
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(full_title)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{_e(full_title)}</h1>", meta,
             "<h2>Summary</h2>", _summary(df, alerts, timezone),
             "<h2>Top alerts</h2>", _alerts_table(alerts, timezone, top_n),
             "<p class='note'>Every column is explained in the <a href='#glossary'>glossary</a>.</p>"]
    figures: dict[str, Figure] = {}
    keys = list(dict.fromkeys(zip(alerts["feed"], alerts["series_key"])))[:max_plots]
    plots = []
    for i, (feed, key) in enumerate(keys):
        name = f"series_{i:02d}.png"
        rows = df[(df["feed"] == feed) & (df["series_key"] == key)]
        freq = rows["freq"].dropna().iloc[0] if rows["freq"].notna().any() else None
        label = f"{feed}: {key}" if feed != "series" else str(key)
        figures[name] = plot_series(rows, label, timezone=timezone, unit=_unit(feed, freq),
                                    band_level=params.band_level)
        plots.append(f"<figure><h3>{_e(label)}</h3><img src='{name}' alt='{_e(label)}' width='1000'>"
                     f"<figcaption>Black: observed {_e(_unit(feed, freq))}; blue line: expected; shaded: "
                     f"{params.band_level:.0%} expected range (lower to upper); dots: alerts by severity. "
                     f"Times in {_e(timezone)}.</figcaption></figure>")
    if plots:
        parts += ["<h2>Alerted series</h2>", *plots]
    for label, table in (entity_scores or {}).items():
        parts.append(_entity_section(label, table, top_n, timezone))
    parts.append(_glossary(params, spike_params is not None, timezone))
    parts.append("<h2>Methods</h2><p class='note'>Spikes: robust seasonal quasi-Poisson baseline with "
                 "downweighted outbreaks (Noufaily et al. 2013, <i>Statistics in Medicine</i> 32(7)), "
                 "negative-binomial upper-tail test, Benjamini &amp; Hochberg (1995) false discovery rate control "
                 "(<code>jobs/anomalies/spikes.py</code>). Entities: Isolation Forest (Liu, Ting &amp; Zhou 2008) "
                 "for phones and ECOD (Li et al. 2022) for accounts, served through ONNX Runtime from the MLflow "
                 "champion (<code>models/anomalies/</code>).</p>")
    parts.append("</body></html>")
    return "\n".join(parts), figures

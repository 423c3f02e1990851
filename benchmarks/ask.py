"""Benchmark: the analyst assistant (``crimefusion ask``) against answers computed independently with pandas.

Each question's expected answer is computed here with pandas over the lakehouse's Delta
tables read with ``deltalake`` (local time per row from ``reference.source_catalog``, as
the study areas read it), never through the assistant's engine or its SQL. Questions the
data cannot answer must be declined with no rows. Prints accuracy by question type,
whether any declined question got a figure, the time to read the catalogue, each
answer's latency (warm, in-process; semantic searches apart), and cold ``crimefusion ask``
processes (a count, a semantic search).

Targets (issue #18): >= 90 % correct, no invented figure, < 2 s per answer.

    .venv/bin/python benchmarks/ask.py [--lake lake] [--verbose]

Reads only: DuckDB in memory over the Delta tables, and deltalake reads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TABLES = {  # askable name -> (layer/table, time column, columns read)
    "incidents": ("silver/incidents", "occurred_at", ["incident_id", "source", "category", "location_type",
                                                      "district", "occurred_at", "mo_text"]),
    "enrichment": ("silver/incident_enrichment", None, ["incident_id", "mo_text"]),
    "events": ("gold/events", "occurred_at", ["source", "origin", "kind", "district", "occurred_at"]),
    "cdr": ("silver/cdr_events", "start_time", ["kind", "direction", "duration_s", "start_time", "source"]),
    "txn": ("silver/transactions", "occurred_at", ["channel", "direction", "amount", "occurred_at", "source"]),
    "posts": ("silver/osint_posts", "posted_at", ["post_id", "platform", "language", "place_name", "posted_at",
                                                  "source", "text"]),
    "alerts": ("gold/spike_alerts", "window_start", ["feed", "severity", "alert", "window_start"]),
    "anomalies": ("gold/entity_anomalies", None, ["entity_type", "flagged", "score"]),
}


def load(lake: Path) -> dict[str, pd.DataFrame]:
    """Every table as pandas with a naive ``local`` column: the row's time in its source's zone."""
    from deltalake import DeltaTable

    zones_table = DeltaTable(str(lake / "reference" / "source_catalog")).to_pandas()
    zones = dict(zip(zones_table.source, zones_table.timezone))
    default = zones_table.timezone.value_counts().sort_index().sort_values(ascending=False, kind="stable").index[0]
    out = {}
    for name, (path, tcol, cols) in TABLES.items():
        df = DeltaTable(str(lake / path)).to_pandas(columns=cols)
        if tcol:
            local = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us]")
            keys = df["source"].map(lambda s: zones.get(s, default)) if "source" in df else pd.Series(default, df.index)
            for zone in keys.unique():
                rows = keys == zone
                local[rows] = df.loc[rows, tcol].dt.tz_convert(zone).dt.tz_localize(None)
            df["local"] = local
        out[name] = df
    return out


def night(s: pd.Series, a: int = 22, b: int = 6) -> pd.Series:
    h = s.dt.hour
    return (h >= a) | (h < b) if a > b else (h >= a) & (h < b)


def dates_only(df: pd.DataFrame) -> bool:
    return bool((df.local == df.local.dt.normalize()).all())


def last_days(df: pd.DataFrame, days: int) -> pd.DataFrame:
    end = df["local"].max().normalize() + pd.Timedelta(days=1)
    return df[(df["local"] >= end - pd.Timedelta(days=days)) & (df["local"] < end)]


def counts(s: pd.Series) -> dict:
    return {str(k): int(v) for k, v in s.value_counts().items()}


def questions(d: dict[str, pd.DataFrame], lake: Path) -> list[tuple[str, str, str, object]]:
    """``(type, table, question, expected)``; expected is a number, a dict of groups, ``("top", n, dict)``,
    ``("list", values)`` or ``None`` (must be declined)."""
    I, E, C, T, P, A, N = (d[k] for k in ("incidents", "events", "cdr", "txn", "posts", "alerts", "anomalies"))
    chi, nyc, sf = (I[I.source == s] for s in ("chicago_aggravated_assaults", "nyc_shootings",
                                               "san_francisco_robbery"))
    y = lambda df, year: df[df.local.dt.year == year]  # noqa: E731 - one-line table helpers
    voice, sms = C[C.kind == "voice"], C[C.kind == "sms"]
    alerts = A[A.alert]
    rob = I[I.category == "robbery"]
    q = [
        ("count", "incidents", "How many incidents are there?", len(I)),
        ("count", "incidents", "How many incidents in Chicago?", len(chi)),
        ("count", "incidents", "How many homicides in New York?", int((nyc.category == "homicide").sum())),
        ("count", "incidents", "How many robberies in San Francisco in 2019?", len(y(sf, 2019))),
        ("count", "incidents", "How many incidents at residences in Chicago in 2016?",
         int((y(chi, 2016).location_type == "residence").sum())),
        ("count", "incidents", "How many incidents in district 11 in 2015?", int((y(I, 2015).district == "11").sum())),
        ("time", "incidents", "How many incidents in Chicago in December 2016?",
         int(((chi.local >= "2016-12-01") & (chi.local < "2017-01-01")).sum())),
        ("time", "incidents", "How many incidents in Chicago on weekends in 2017?",
         int(y(chi, 2017).local.dt.dayofweek.isin([5, 6]).sum())),
        # a feed whose times are all local midnight records dates only: its hours must be declined
        ("decline" if dates_only(nyc) else "time", "incidents", "How many incidents in New York between 10pm and 2am?",
         None if dates_only(nyc) else int(night(nyc.local, 22, 2).sum())),
        ("time", "incidents", "How many incidents in Chicago in summer 2015?",
         int(y(chi, 2015).local.dt.month.isin([6, 7, 8]).sum())),
        ("time", "incidents", "How many robberies in the last 4 weeks?", len(last_days(rob, 28))),
        ("time", "incidents", "How many incidents in Chicago on Mondays in 2017?",
         int((y(chi, 2017).local.dt.dayofweek == 0).sum())),
        ("time", "incidents", "How many incidents in Chicago in the morning in 2017?",
         int(night(y(chi, 2017).local, 6, 12).sum())),
        ("topk", "incidents", "Top 5 districts in Chicago in 2017", ("top", 5, counts(y(chi, 2017).district))),
        ("topk", "incidents", "Which location type has the most incidents in Chicago?",
         ("top", 1, counts(chi.location_type))),
        ("topk", "incidents", "Which hour of the day has the most incidents in Chicago?",
         ("top", 1, counts(chi.local.dt.hour))),
        ("topk", "incidents", "Which day of the week has the fewest incidents in New York?",
         ("bottom", 1, counts(nyc.local.dt.day_name()))),
        ("topk", "incidents", "Top 3 precincts for shootings in New York", ("top", 3, counts(nyc.district))),
        ("share", "incidents", "What share of incidents in Chicago were at night?", night(chi.local).mean()),
        ("share", "incidents", "What percentage of incidents in New York were homicides?",
         (nyc.category == "homicide").mean()),
        ("share", "incidents", "Share of Chicago incidents by location type",
         {str(k): float(v) for k, v in chi.location_type.value_counts(normalize=True, dropna=False).items()}),
        ("share", "incidents", "What share of robberies happened on weekends?",
         rob.local.dt.dayofweek.isin([5, 6]).mean()),
        ("trend", "incidents", "Trend of robberies by month", counts(rob.local.dt.strftime("%Y-%m"))),
        ("trend", "incidents", "Incidents in Chicago by year", counts(chi.local.dt.year)),
        ("trend", "incidents", "Monthly incidents in New York in 2019",
         counts(y(nyc, 2019).local.dt.strftime("%Y-%m"))),
        ("trend", "incidents", "Incidents in Chicago by day of week", counts(chi.local.dt.day_name())),
        ("compare", "incidents", "Compare Chicago and New York in 2019", counts(y(I, 2019).query(
            "source in ['chicago_aggravated_assaults', 'nyc_shootings']").source)),
        ("compare", "incidents", "Compare New York and San Francisco",
         {"nyc_shootings": len(nyc), "san_francisco_robbery": len(sf)}),
        ("compare", "incidents", "Compare homicides and aggravated assaults in New York", counts(nyc.category)),
        ("list", "incidents", "List incidents in New York on 2019-07-04",
         ("list", "incident_id", set(nyc[nyc.local.dt.strftime("%Y-%m-%d") == "2019-07-04"].incident_id))),
        ("list", "incidents", "Show the latest 5 robberies",
         ("list", "occurred_at_local", set(rob.local.sort_values().iloc[-5:].dt.strftime("%Y-%m-%dT%H:%M:%S")))),
        ("trend", "events", "How many events by origin?", counts(E.origin)),
        ("count", "events", "How many fused events in district 11?", int((E.district == "11").sum())),
        ("count", "events", "How many events of kind sms?", int((E.kind == "sms").sum())),
        ("topk", "events", "Events by kind in the last week", counts(last_days(E, 7)["kind"])),
        ("time", "cdr", "How many calls between 10pm and 2am?", int(night(voice.local, 22, 2).sum())),
        ("time", "cdr", "How many text messages on weekends?", int(sms.local.dt.dayofweek.isin([5, 6]).sum())),
        ("sum/mean", "cdr", "Average duration of calls", round(voice.duration_s.mean(), 2)),
        ("trend", "cdr", "How many call records by direction?", counts(C.direction)),
        ("topk", "cdr", "Which hour has the most calls?", ("top", 1, counts(voice.local.dt.hour))),
        ("sum/mean", "cdr", "Total duration of calls in the last 2 weeks",
         float(last_days(C, 14).query("kind == 'voice'").duration_s.sum())),
        ("sum/mean", "txn", "Average amount of ATM withdrawals", round(T[T.channel == "atm"].amount.mean(), 2)),
        ("sum/mean", "txn", "Total amount of transfers", round(T[T.channel == "transfer"].amount.sum(), 2)),
        ("count", "txn", "How many transactions over 1000?", int((T.amount > 1000).sum())),
        ("trend", "txn", "Transactions by channel", counts(T.channel)),
        ("share", "txn", "What share of transactions are card payments?", (T.channel == "card").mean()),
        ("trend", "txn", "Daily transactions in the last week",
         {str(k): int(v) for k, v in last_days(T, 7).local.dt.date.value_counts().items()}),
        ("count", "posts", "How many posts on twitter?", int((P.platform == "twitter").sum())),
        ("trend", "posts", "Posts by language", counts(P.language)),
        ("topk", "posts", "Top 3 places in posts", ("top", 3, counts(P.place_name.dropna()))),
        ("count", "posts", "How many posts in Spanish in December 2017?",
         int(((P.language == "es") & (P.local >= "2017-12-01") & (P.local < "2018-01-01")).sum())),
        ("count", "posts", "How many posts in Englewood?", int((P.place_name == "Englewood").sum())),
        ("share", "posts", "What share of posts are in English?", (P.language == "en").mean()),
        ("count", "alerts", "How many alerts?", len(alerts)),
        ("count", "alerts", "How many critical alerts?", int((alerts.severity == "critical").sum())),
        ("trend", "alerts", "Alerts by feed", counts(alerts.feed)),
        ("list", "alerts", "List the latest 3 alerts",
         ("list", "window_start_local", set(alerts.local.sort_values().iloc[-3:].dt.strftime("%Y-%m-%dT%H:%M:%S")))),
        ("count", "anomalies", "How many anomalous phones?", int((N.flagged & (N.entity_type == "phone")).sum())),
        ("sum/mean", "anomalies", "Average score of anomalous accounts",
         round(N[N.flagged & (N.entity_type == "account")].score.mean(), 2)),
        ("trend", "anomalies", "Anomalies by entity type", counts(N[N.flagged].entity_type)),
    ]
    q += search_questions(I, P, d["enrichment"])
    for name, phrase in (("hotspot_forecast", "How many rows are in the hotspot forecast?"),
                         ("patrol_plan", "How many rows are in the patrol plan?")):
        path = lake / "gold" / name
        from deltalake import DeltaTable

        exists = DeltaTable.is_deltatable(str(path))
        q.append(("decline" if not exists else "count", name, phrase,
                  None if not exists else len(DeltaTable(str(path)).to_pandas(columns=["h3"]))))
    q += [("decline", t, text, None) for t, text in (
        ("incidents", "How many drone smuggling cases in the past 5 years?"),
        ("incidents", "How many incidents in Boston?"),
        ("incidents", "What is the average age of victims?"),
        ("incidents", "How many incidents in 2005?"),
        ("incidents", "How many incidents in district 999?"),
        ("incidents", "What is the average amount of incidents?"),
        ("incidents", "Incidents in Englewood"),
        ("incidents", "How many burglaries in Chicago?"),
        ("incidents", "How many robberies in Chicago?"),
        ("incidents", "Compare incidents and transactions"),
        ("incidents", "How many arrests were made in 2017?"),
    )]
    return q


def search_questions(I: pd.DataFrame, P: pd.DataFrame, enrichment: pd.DataFrame) -> list[tuple]:
    """Semantic searches: the top row must be one whose text plainly says it (pandas ``str.contains`` on the
    words), every row must pass the question's filters, and k rows come back (fewer only when fewer qualify)."""
    side = enrichment.dropna(subset=["mo_text"]).groupby("incident_id").mo_text.first()
    mo = I.mo_text.fillna(I.incident_id.map(side))  # an incident's own narrative first, as the engine reads it
    I = I.assign(mo=mo)[mo.notna()]

    def ids(df: pd.DataFrame, col: str, *words: str) -> set:
        text = df["mo" if col == "incident_id" else "text"].fillna("").str.lower()
        keep = pd.Series(True, index=df.index)
        for w in words:
            keep &= text.str.contains(w, regex=False)
        return set(df.loc[keep, col])

    es, week = P[P.language == "es"], last_days(P, 7)
    return [
        ("search", "posts", "Posts about a planned fight near the park",
         ("search", "post_id", ids(P, "post_id", "fight", "park"), set(P.post_id), 10)),
        ("search", "posts", "Spanish posts about una pelea en el parque",
         ("search", "post_id", ids(es, "post_id", "pelea"), set(es.post_id), 10)),
        ("search", "posts", "Top 5 posts mentioning gunshots in the last week",
         ("search", "post_id", ids(week, "post_id", "shots"), set(week.post_id), 5)),
        ("search", "posts", "Posts about traffic on the highway",
         ("search", "post_id", ids(P, "post_id", "traffic"), set(P.post_id), 10)),
        ("search", "incidents", "Incidents mentioning a baseball bat and a car",
         ("search", "incident_id", ids(I, "incident_id", "baseball bat", "car"), set(I.incident_id), 10)),
        ("search", "incidents", "Reports similar to offender pointed a gun at the gas pump",
         ("search", "incident_id", ids(I, "incident_id", "gas pump", "pointed a weapon", "handgun"),
          set(I.incident_id), 10)),
        ("decline", "txn", "Transactions about rent", None),
        ("decline", "events", "Events about a fight near the park", None),
        ("decline", "posts", "How many posts about a fight?", None),
    ]


def check(answer, expected) -> bool:
    """Whether ``answer`` gives the expected figure (or declines where it must)."""
    if expected is None:
        return answer.declined and not answer.rows
    if answer.declined or not answer.rows:
        return False
    cols = answer.columns
    if isinstance(expected, tuple) and expected[0] == "search":
        _, col, top, allowed, k = expected
        got, scores = [r[cols.index(col)] for r in answer.rows], [r[0] for r in answer.rows]
        return (got[0] in top and set(got) <= allowed and len(got) == min(k, len(allowed))
                and scores == sorted(scores, reverse=True))
    if isinstance(expected, tuple) and expected[0] == "list":
        _, col, want = expected
        got = {str(r[cols.index(col)])[:19] if col.endswith("_local") else str(r[cols.index(col)])
               for r in answer.rows}
        return got == want
    if isinstance(expected, tuple):  # top / bottom k: the values in order, each key's value right
        kind, k, table = expected
        ranked = sorted(table.values(), reverse=kind == "top")[:k]
        got = [r[cols.index("count")] for r in answer.rows]
        return got == ranked and all(table.get(str(r[0])) == r[cols.index("count")] for r in answer.rows)
    if isinstance(expected, dict) and all(isinstance(v, float) for v in expected.values()):  # shares
        got = {str(r[0]): r[cols.index("share")] for r in answer.rows}
        return got.keys() == expected.keys() and all(abs(got[k] - v) <= 5e-5 for k, v in expected.items())
    if isinstance(expected, dict):
        return {str(r[0]): r[cols.index("count")] for r in answer.rows} == expected
    got = answer.rows[0][-1]
    tolerance = 5e-5 if isinstance(expected, float) and expected <= 1 else 0.011
    return got is not None and abs(float(got) - float(expected)) <= max(tolerance, 1e-9 * abs(float(expected)))


def cold_runs(lake: Path, data: dict[str, pd.DataFrame]) -> None:
    """Time whole ``crimefusion ask`` processes: a count, then a semantic search."""
    t0 = time.perf_counter()
    run = subprocess.run([str(REPO / ".venv" / "bin" / "crimefusion"), "ask", "How many incidents in Chicago?",
                          "--lake", str(lake), "--json"], capture_output=True, text=True, cwd=REPO)
    cold = time.perf_counter() - t0
    chicago = int((data["incidents"].source == "chicago_aggravated_assaults").sum())
    ok = run.returncode == 0 and json.loads(run.stdout.strip().splitlines()[-1])["rows"] == [[chicago]]
    print(f"one cold `crimefusion ask --json` process (start, catalogue, answer): {cold:.2f} s, "
          f"{'right' if ok else 'WRONG'} answer")
    t0 = time.perf_counter()
    run = subprocess.run([str(REPO / ".venv" / "bin" / "crimefusion"), "ask", "Posts about a fight near the park",
                          "--lake", str(lake), "--json"], capture_output=True, text=True, cwd=REPO)
    cold = time.perf_counter() - t0
    rows = json.loads(run.stdout.strip().splitlines()[-1])["rows"] if run.returncode == 0 else []
    print(f"one cold semantic search process (start, catalogue, model, embeddings, answer): {cold:.2f} s, "
          f"{len(rows)} rows")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", default=str(REPO / "lake"), help="lakehouse root (read only; default ./lake)")
    parser.add_argument("--verbose", action="store_true", help="print every question and answer")
    parser.add_argument("--model", help="a language model writes the plans: a GGUF file (llama.cpp), or the model's "
                                        "name at --endpoint (default: the rule-based parser)")
    parser.add_argument("--endpoint", help="base URL of an OpenAI-compatible API serving --model")
    parser.add_argument("--n-ctx", type=int, default=8192, help="llama.cpp context length (default 8192)")
    args = parser.parse_args(argv)
    lake = Path(args.lake).resolve()

    from jobs.ask import ask, open_catalogue
    from orchestration.ask.planners import make_planner
    from orchestration.platform.bi import connect

    planner = make_planner("auto", model=args.model, endpoint=args.endpoint, n_ctx=args.n_ctx)
    print(f"planner: {'the rule-based parser' if planner is None else f'{planner.engine} {args.model}'}")

    t0 = time.perf_counter()
    data = load(lake)
    print(f"pandas reference tables read in {time.perf_counter() - t0:.1f} s")
    con = connect(extensions=("delta",))
    t0 = time.perf_counter()
    catalogue = open_catalogue(lake, con)
    catalogue_s = time.perf_counter() - t0
    results: dict[str, list[bool]] = defaultdict(list)
    tables: dict[str, list[bool]] = defaultdict(list)
    latencies, invented, wrong, searches, answered = [], [], [], [], []
    for qtype, table, question, expected in questions(data, lake):
        t0 = time.perf_counter()
        answer = ask(question, catalogue, con, planner=planner)
        latencies.append((time.perf_counter() - t0, question))
        answered.append(answer)
        if qtype == "search":
            searches.append(latencies[-1])
        try:
            ok = check(answer, expected)
        except (ValueError, IndexError, KeyError, TypeError):  # an answer of another shape (another column)
            ok = False
        results[qtype].append(ok)
        tables[table].append(ok)
        if expected is None and (not answer.declined or answer.rows):
            invented.append(question)
        if not ok:
            wrong.append((question, answer.answer, expected if not isinstance(expected, dict) else "groups"))
        if args.verbose:
            print(f"{'ok ' if ok else 'BAD'} [{qtype}] {question}\n      {answer.answer}")
    total = sum(len(v) for v in results.values())
    correct = sum(sum(v) for v in results.values())
    print(f"\n{total} questions over {len(tables)} tables; catalogue read in {catalogue_s:.2f} s")
    for name, group in (("type", results), ("table", tables)):
        print(f"accuracy by {name}: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(group.items())))
    print(f"correct: {correct}/{total} = {100 * correct / total:.1f} % (target >= 90 %)")
    print(f"declined questions given a figure: {len(invented)} {invented if invented else ''}(target 0)")
    times = sorted(t for t, _ in latencies)
    print(f"latency per answer (warm): median {statistics.median(times):.3f} s, p95 "
          f"{times[int(0.95 * (len(times) - 1))]:.3f} s, max {times[-1]:.3f} s "
          f"({max(latencies)[1]!r}) (target < 2 s)")
    if searches:
        print(f"semantic searches: {', '.join(f'{t:.3f} s' for t, _ in searches)} (the first loads the embedding "
              "model; each embeds its candidates' distinct texts once per process)")
    if planner is not None:
        tokens = [a for a in answered if a.planner and a.planner.get("prompt_tokens")]
        if tokens:
            print(f"model prompts: {statistics.median(a.planner['prompt_tokens'] for a in tokens):.0f} tokens "
                  f"(median), {statistics.median(a.planner['seconds'] for a in tokens):.2f} s per plan (median)")
    else:  # cold processes of the rule-based parser
        cold_runs(lake, data)
    for question, said, want in wrong:
        print(f"  wrong: {question!r}\n     said: {said}\n     expected: {want}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

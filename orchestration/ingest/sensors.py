"""A sensor that ingests files dropped in the landing folder.

Every 30 s it lists ``<landing>/<source>/<YYYY-MM-DD>/`` for every source and,
for each ingest date with files it has not seen (path, modification time and
size), requests a run of that date's partition of the feed's bronze asset and
its silver/quarantine tables. Run keys make a request idempotent.
"""

import json

import dagster as dg

from orchestration.ingest.assets import FEEDS
from orchestration.ingest.landing import file_token, new_files
from orchestration.resources.sources import SourceCatalog


def build_landing_sensor(tables: list[str]) -> dg.SensorDefinition:
    targets = dg.AssetSelection.assets(*[FEEDS[t].bronze for t in tables]) | \
        dg.AssetSelection.assets(*[FEEDS[t].table for t in tables]) | \
        dg.AssetSelection.assets(*[FEEDS[t].rejects for t in tables])

    @dg.sensor(
        name="landing_sensor",
        asset_selection=targets,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Ingests new files dropped in <landing>/<source>/<YYYY-MM-DD>/ (bronze, then silver).",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, sources: SourceCatalog):
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        requests, tokens = [], set(seen)
        for table in tables:
            feed = FEEDS[table]
            for spec in sources.specs(table):
                for day, files in new_files(sources.landing_path(), spec, seen).items():
                    names = sorted(f.name for f in files)
                    tokens.update(file_token(f) for f in files)
                    requests.append(dg.RunRequest(
                        run_key=f"{spec.name}:{day}:" + ",".join(sorted(file_token(f) for f in files)),
                        partition_key=day,
                        asset_selection=[dg.AssetKey(feed.bronze), dg.AssetKey(feed.table), dg.AssetKey(feed.rejects)],
                        tags={"crimefusion/source": spec.name, "crimefusion/files": ",".join(names)[:200]},
                    ))
        context.update_cursor(json.dumps(sorted(tokens)))
        if not requests:
            return dg.SkipReason("no new files in the landing folder")
        return requests

    return landing_sensor

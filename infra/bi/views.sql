-- Curated views for BI tools, created in schema "bi" by infra/bi/build_duckdb.py
-- on top of the per-table views it makes first ("<layer>"."<table>", each a
-- delta_scan of the table's current snapshot). A statement runs only when every
-- table on its "-- requires:" line exists; the others are reported as skipped.
-- Geometry is WKB in EPSG:4326 (column "geometry"); ST_GeomFromWKB needs the
-- spatial extension, lon/lat columns work without it.

-- requires: silver.incidents, reference.source_catalog
CREATE OR REPLACE VIEW bi.incidents AS
-- occurred_at is the UTC instant; the *_local columns read it in the feed's time zone (reference.source_catalog)
SELECT i.incident_id, i.source, i.category, i.source_category, i.location_type, i.district, i.status, i.weapon,
       i.occurred_at, CAST(timezone('UTC', i.occurred_at) AS DATE) AS occurred_day_utc,
       date_part('hour', timezone('UTC', i.occurred_at)) AS occurred_hour_utc,
       coalesce(s.timezone, 'UTC') AS timezone,
       timezone(coalesce(s.timezone, 'UTC'), i.occurred_at) AS occurred_at_local,
       CAST(timezone(coalesce(s.timezone, 'UTC'), i.occurred_at) AS DATE) AS occurred_day_local,
       date_part('year', timezone(coalesce(s.timezone, 'UTC'), i.occurred_at)) AS occurred_year_local,
       date_part('hour', timezone(coalesce(s.timezone, 'UTC'), i.occurred_at)) AS occurred_hour_local,
       i.lon, i.lat, i.h3
FROM silver.incidents AS i
LEFT JOIN reference.source_catalog AS s ON s.source = i.source;

-- requires: silver.incidents
CREATE OR REPLACE VIEW bi.incidents_geo AS
SELECT incident_id, source, category, district, occurred_at, ST_GeomFromWKB(geometry) AS geom
FROM silver.incidents;

-- requires: reference.police_districts
CREATE OR REPLACE VIEW bi.police_districts AS
SELECT layer, area_id, name, area_km2, ST_GeomFromWKB(geometry) AS geom, ST_AsText(ST_GeomFromWKB(geometry)) AS wkt
FROM reference.police_districts;

-- requires: gold.district_daily_counts, reference.police_districts
CREATE OR REPLACE VIEW bi.district_incident_rates AS
-- district ids repeat across cities (Chicago district 1, NYC precinct 1): the join takes the layer too
-- months are local (local_day: the day in the feed's time zone), as the people who read them count them
SELECT c.source, c.layer, c.district, c.category, CAST(date_trunc('month', c.local_day) AS DATE) AS month,
       any_value(c.timezone) AS timezone,
       sum(c.incidents) AS incidents, any_value(d.area_km2) AS area_km2,
       sum(c.incidents) / nullif(any_value(d.area_km2), 0) AS incidents_per_km2
FROM gold.district_daily_counts AS c
LEFT JOIN reference.police_districts AS d ON d.layer = c.layer AND d.area_id = c.district
GROUP BY ALL;

-- requires: quarantine.incidents_rejects
CREATE OR REPLACE VIEW bi.incident_rejects_by_rule AS
SELECT source, rule, field, count(*) AS rows, any_value(reason) AS example_reason
FROM quarantine.incidents_rejects
GROUP BY ALL;

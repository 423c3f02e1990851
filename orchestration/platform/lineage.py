"""What the lineage page shows: assets grouped by lake layer, tagged with their domain, linked to their code.

- **Groups are layers.** An asset's group is the layer of the lakehouse table it
  writes (:data:`TABLE_LAYERS`), and it declares the table with
  :func:`orchestration.lakehouse.metadata.lake_table` (``dagster/table_name``
  ``<layer>.<name>``, its columns); with groups collapsed the graph reads
  bronze -> silver -> gold. An asset that writes no table has a group that says
  what it makes instead (:data:`OTHER_GROUPS`). Asset names are table names
  where an asset writes one table; a bronze asset ``raw_<table>`` writes
  ``bronze/raw_<source>`` for each source spec of the canonical table
  (docs/architecture.md, "Layers and names").
- **Domains are tags.** Each asset carries ``crimefusion/domain: <domain>``
  (:data:`DOMAIN_TAG`, the folder of ``orchestration/`` that defines it),
  added by :func:`in_domain` when the definitions load; jobs that span
  domains select by it (:func:`domains`), never by group.
- **Code references.** Every asset links to the source of its function
  (``dg.with_source_code_references``), shown on its page in the UI.
"""

from __future__ import annotations

import inspect
import os
import warnings

import dagster as dg

__all__ = ["DOMAIN_TAG", "OTHER_GROUPS", "TABLE_LAYERS", "domains", "in_domain"]

#: Asset tag: the domain (``orchestration/<domain>/``) that defines the asset.
DOMAIN_TAG = "crimefusion/domain"
#: Groups of assets that write lakehouse tables: the layer of the table.
TABLE_LAYERS = ("bronze", "silver", "quarantine", "reference", "gold", "truth")
#: Groups of assets that write no lakehouse table: what they make instead.
OTHER_GROUPS = {
    "models": "MLflow registered models (ONNX), promoted by their blocking checks",
    "reports": "HTML pages, plots and GIS exports under <CRIMEFUSION_HOME>",
    "synthetic": "the demo's simulated source systems: landing files laid over the incident source's own files "
                 "(synthetic deployments only)",
    "demo": "the demo video clip, drawn from silver cameras and incidents into the landing folder",
}


def in_domain(domain: str, defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with each asset tagged ``crimefusion/domain: <domain>`` and linked to its source code."""

    def tag(spec: dg.AssetSpec) -> dg.AssetSpec:
        return spec.replace_attributes(tags={**spec.tags, DOMAIN_TAG: domain})

    with warnings.catch_warnings():  # a public API, still marked beta: no warning per asset on every load
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = [_under_decorators(a) for a in
                  dg.with_source_code_references(dg.map_asset_specs(tag, list(defs.assets or [])))]
    return dg.Definitions(assets=assets, asset_checks=defs.asset_checks, jobs=defs.jobs, schedules=defs.schedules,
                          sensors=defs.sensors, resources=defs.resources)


def _under_decorators(assets_def):
    """``assets_def`` with its code reference in the file of the function under ``skip_unchanged``.

    Dagster takes the line from the innermost function (``inspect.getsourcelines``
    unwraps) but the file from the outermost (``inspect.getsourcefile`` does not),
    so an asset under a wrapping decorator would point into
    ``orchestration/lakehouse/freshness.py`` at its own line number.
    """
    if not isinstance(assets_def, dg.AssetsDefinition) or not isinstance(assets_def.node_def, dg.OpDefinition):
        return assets_def
    outer = getattr(assets_def.op.compute_fn, "decorated_fn", assets_def.op.compute_fn)
    inner = inspect.unwrap(outer)
    if inner is outer:
        return assets_def
    where = dg.LocalFileCodeReference(file_path=os.path.abspath(inspect.getsourcefile(inner)),
                                      line_number=inspect.getsourcelines(inner)[1])

    def point(spec: dg.AssetSpec) -> dg.AssetSpec:
        return spec.replace_attributes(metadata={
            **spec.metadata, "dagster/code_references": dg.CodeReferencesMetadataValue(code_references=[where])})

    return assets_def.map_asset_specs(point)


def domains(*names: str) -> dg.AssetSelection:
    """The assets of the domains ``names`` (by :data:`DOMAIN_TAG`)."""
    selection = dg.AssetSelection.tag(DOMAIN_TAG, names[0])
    for name in names[1:]:
        selection = selection | dg.AssetSelection.tag(DOMAIN_TAG, name)
    return selection

"""Run a Great Expectations suite over a data frame and report it plainly.

GX 1.x is called directly (``dagster-ge`` needs GX < 1.0): an ephemeral context,
a pandas data source, one validation. The :class:`QualityReport` carries, for
each expectation, its outcome and a few failing examples, so that a Dagster
asset check can show *which* rows broke *which* rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Outcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int
    unexpected_percent: float
    examples: list


@dataclass(frozen=True)
class QualityReport:
    suite: str
    rows: int
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    def to_markdown(self) -> str:
        lines = [
            f"**{self.suite}**: {'passed' if self.success else 'FAILED'} on {self.rows:,} rows",
            "",
            "| expectation | column | ok | unexpected | examples |",
            "|---|---|---|---|---|",
        ]
        for o in self.outcomes:
            ex = ", ".join(str(e) for e in o.examples[:5]).replace("|", "/")
            lines.append(
                f"| {o.expectation} | {o.column or ''} | {'yes' if o.success else '**no**'} | "
                f"{o.unexpected_count:,} ({o.unexpected_percent:.3g}%) | {ex} |"
            )
        return "\n".join(lines)


def validate(df: pd.DataFrame, suite_name: str, expectations: list, *, id_column: str | None = None) -> QualityReport:
    """Validate ``df`` against ``expectations`` (GX expectation objects).

    ``id_column`` names the column whose values identify failing rows in the examples.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:
        context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    except AttributeError:  # older/newer GX without the setting: progress bars only cost log noise
        pass
    source = context.data_sources.add_pandas("crimefusion")
    batch_def = source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite))
    result_format: dict = {"result_format": "SUMMARY", "partial_unexpected_count": 10}
    if id_column:
        result_format["unexpected_index_column_names"] = [id_column]
    run = definition.run(batch_parameters={"dataframe": df}, result_format=result_format)
    outcomes = []
    for res in run.results:
        cfg = res.expectation_config
        r = res.result or {}
        examples = r.get("partial_unexpected_index_list") or r.get("partial_unexpected_list") or []
        outcomes.append(
            Outcome(
                expectation=cfg.type,
                column=cfg.kwargs.get("column"),
                success=bool(res.success),
                unexpected_count=int(r.get("unexpected_count") or 0),
                unexpected_percent=float(r.get("unexpected_percent") or 0.0),
                examples=[_plain(e) for e in examples],
            )
        )
    return QualityReport(suite=suite_name, rows=len(df), outcomes=outcomes)


def _plain(value):
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value.values()))
    return value if isinstance(value, (str, int, float)) else str(value)

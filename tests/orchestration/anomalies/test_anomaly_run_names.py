"""The anomaly domain's MLflow runs say what ran and its registered models say what they are for (issue #19)."""

from __future__ import annotations

import pyarrow.compute as pc

from tests.orchestration.anomalies.test_anomaly_assets import run, synth  # noqa: F401 - the module's fixtures


def test_runs_name_model_method_and_data_end(run):  # noqa: F811
    import mlflow
    from mlflow.tracking import MlflowClient

    from models.anomalies.champion import DESCRIPTIONS
    from orchestration.anomalies.inputs import SpikeConfig

    lh, result, home, _, day = run
    spikes = SpikeConfig()
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    names = {r.info.run_name for r in mlflow.search_runs(experiment_names=["anomalies"], output_format="list")}
    cdr_end = pc.max(lh.read("silver", "cdr_events", columns=["start_time"])["start_time"]).as_py().date()
    tx_end = pc.max(lh.read("silver", "transactions", columns=["occurred_at"])["occurred_at"]).as_py().date()
    assert names == {f"anomaly_phones isolation_forest phone_features data-end {cdr_end}",
                     f"anomaly_accounts ecod account_features data-end {tx_end}",
                     f"spike_alerts negbin-fdr hourly-{spikes.hourly_days}d daily-{spikes.daily_days}d data-end {day}"}
    for name, entity in (("anomaly_phones", "phone"), ("anomaly_accounts", "account")):
        assert client.get_registered_model(name).description == DESCRIPTIONS[entity]
        assert client.get_model_version(name, "1").description.startswith(f"{name} ")

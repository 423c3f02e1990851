"""Runs of the ``crimefusion`` code location: what the Dagster UI lists under their job.

The UI (``make ui``: ``dagster dev -w workspace.yaml``, :func:`workspace_args`), the
deployed workspace (``infra/dagster/workspace.yaml``) and ``dagster dev`` run bare in
the project (``[tool.dagster]`` of ``pyproject.toml``) all load
``orchestration.definitions`` as the code location :data:`CODE_LOCATION`
(``dagster dev -m`` cannot name a location: it would call it after the module). The UI
ties a run to a job of a location through the run's *remote job origin*: Jobs >
``crimefusion_all`` lists the runs tagged ``.dagster/repository`` =
``__repository__@crimefusion`` (a tag Dagster derives from that origin), the
timeline groups runs by it, and re-execution looks the location up by its name.
``JobDefinition.execute_in_process`` creates runs without one, so the UI showed
``crimefusion run``'s runs as jobless.

:func:`execute_in_location` runs a job in this process, as ``crimefusion run``
always has (the same in-process executor, progress read from the event log,
exceptions raised here, no code server or run worker to start), but creates its
run with the origin the UI's code location gives its own runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from orchestration.settings import PROJECT_ROOT

#: The code location's name, everywhere the definitions are loaded (pyproject.toml, workspace.yaml, make ui).
CODE_LOCATION = "crimefusion"
#: The module Dagster loads the definitions from.
DEFINITIONS_MODULE = "orchestration.definitions"
#: The local workspace file naming that module's location :data:`CODE_LOCATION`.
WORKSPACE_FILE = PROJECT_ROOT / "workspace.yaml"


def workspace_args() -> list[str]:
    """The ``dagster dev`` / ``dagster-webserver`` arguments that load the definitions as :data:`CODE_LOCATION`."""
    return ["-w", str(WORKSPACE_FILE)]


def execute_in_location(job, instance, *, partition_key: str | None = None,
                        asset_selection: Sequence | None = None, run_config: Mapping | None = None,
                        run_id: str | None = None, tags: Mapping[str, str] | None = None):
    """Execute ``job`` (its ``asset_selection``, else all of it) for ``partition_key`` in this process.

    The run is recorded as a run of ``job`` in the code location :data:`CODE_LOCATION`
    (``remote_job_origin``), with the tags and run config ``execute_in_process`` would give it.
    Unlike ``execute_in_process`` it keeps the job's own resources (no in-memory IO manager
    swapped in), as a run launched from the UI does; the assets return no values to store.

    Parameters
    ----------
    job : dagster.JobDefinition
        A job of the definitions (``defs.resolve_job_def(name)``); its executor must run in process
        (``orchestration.definitions`` sets ``in_process_executor``).
    instance : dagster.DagsterInstance
        Where the run is recorded (the persistent instance the UI reads).

    Returns
    -------
    dagster.ExecuteJobResult-like
        ``success``, ``all_events``, ``run_id``..., as ``execute_in_process`` returns; step
        failures are in the result, not raised.
    """
    return _run_in_location(job, instance, partition_key=partition_key,
                            asset_selection=list(asset_selection) if asset_selection is not None else None,
                            run_config=dict(run_config or {}), run_id=run_id, tags=dict(tags or {}))


def _run_in_location(job, instance, *, partition_key, asset_selection, run_config, run_id, tags):
    # Dagster (1.13) has no public call that executes a job in this process as a run of a code location:
    # execute_in_process and execute_job create runs without a remote origin; only the webserver, the daemon and
    # `dagster job launch` set one, after loading the location in a code server and handing the run to a run
    # worker process (and the queued coordinator of our dagster.yaml would wait for a daemon). These are the
    # internal steps execute_in_process takes (dagster/_core/definitions/job_definition.py), with the origins
    # added to the run record; kept in this one function so a Dagster upgrade has one place to look.
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
    from dagster._core.execution.api import execute_run
    from dagster._core.execution.execute_in_process import merge_run_tags
    from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    if not run_config and partition_key and job.partitioned_config:
        run_config = job.partitioned_config.get_run_config_for_partition_key(partition_key)
    run_tags = merge_run_tags(job_def=job, partition_key=partition_key, tags=tags, asset_selection=asset_selection,
                              instance=instance, run_config=run_config)  # also validates the partition key
    # the location as the UI's workspace (workspace.yaml: python_module, location_name) describes it
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=DEFINITIONS_MODULE,
                             working_directory=os.getcwd()),
        location_name=CODE_LOCATION)
    code = ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs", working_directory=os.getcwd())
    run = instance.create_run_for_job(
        job_def=job, run_id=run_id, run_config=run_config, tags=run_tags,
        asset_selection=frozenset(asset_selection) if asset_selection else None,
        remote_job_origin=RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME).get_job_origin(job.name),
        job_code_origin=code.get_python_origin().get_job_origin(job.name),
    )
    return execute_run(InMemoryJob(job), run, instance)

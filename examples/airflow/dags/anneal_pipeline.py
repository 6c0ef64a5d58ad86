"""Trigger an Anneal pipeline run from Airflow and wait for it to finish.

`trigger_run` POSTs /api/v1/pipelines/{pipeline_id}/runs and pushes the new run's id to
XCom; `wait_for_run` polls GET /api/v1/pipeline-runs/{id} until the run has succeeded. A
run that fails or is cancelled fails `wait_for_run` at its next poll, with a message naming
the failed nodes, instead of waiting out the timeout.

Both tasks use the HTTP connection `anneal`: the server's host, port and schema, and the
API token as an `Authorization` header in the extra (the HTTP hook sends the keys of the
extra that are not request options as headers), e.g.

    AIRFLOW_CONN_ANNEAL='{"conn_type": "http", "host": "127.0.0.1", "port": 3000,
        "schema": "http", "extra": {"Authorization": "Bearer ant_..."}}'

Trigger with the pipeline and its params in the run conf:

    airflow dags test anneal_pipeline -c '{"pipeline_id": "...", "params": {"steps": 20}}'
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor
from airflow.sdk import DAG, Param
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from requests import Response

CONN_ID = "anneal"

# Both tasks read the status code themselves, so that Anneal's error message reaches the
# task log and a 4xx fails without retries; `timeout` is per request, in seconds.
REQUEST_OPTIONS = {"check_response": False, "timeout": 30}

# Not __name__: Airflow imports DAG files under a mangled module name.
log = logging.getLogger("anneal_pipeline")


def _error_message(response: Response) -> str:
    """`HTTP 404: not_found: ...` from Anneal's `{"error": {"code", "message"}}` body."""
    try:
        error = response.json()["error"]
        detail = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        detail = response.text[:500] or response.reason
    return f"HTTP {response.status_code}: {detail}"


def _run_started(response: Response) -> bool:
    """Response check of `trigger_run`: a 4xx (bad pipeline id, params or token) is final."""
    if 400 <= response.status_code < 500:
        raise AirflowFailException(f"Anneal refused to start the run: {_error_message(response)}")
    if not response.ok:
        # A 5xx may be transient: a plain AirflowException leaves the task's retries to decide.
        raise AirflowException(f"Anneal failed to start the run: {_error_message(response)}")
    return True


def _run_id(response: Response) -> str:
    """Response filter of `trigger_run`: the new run's id, which becomes its XCom."""
    run = response.json()
    log.info("Started Anneal pipeline run %s (%s)", run["id"], run["status"])
    return run["id"]


def _describe_failure(run: dict[str, Any]) -> str:
    """One line naming the run and each failed node (the cancelled ones if none failed)."""
    nodes = run.get("nodes") or []
    culprit_status = "failed" if any(n["status"] == "failed" for n in nodes) else "cancelled"
    culprits = [n for n in nodes if n["status"] == culprit_status]
    message = f"Anneal pipeline run {run['id']} {run['status']}"
    if run.get("error"):
        message += f": {run['error']}"
    if culprits:
        described = "; ".join(
            f"{n['key']} (after {n.get('attempts', 0)} attempt(s)): "
            f"{n.get('detail') or 'no detail'}"
            for n in culprits
        )
        message += f". {culprit_status.capitalize()} nodes: {described}"
    return message


def _run_succeeded(response: Response) -> bool:
    """Response check of `wait_for_run`: True once succeeded, False while it runs."""
    if response.status_code >= 500 or response.status_code == 429:
        log.warning("Anneal did not answer the poll (%s); polling again", _error_message(response))
        return False
    if not response.ok:
        raise AirflowFailException(f"Cannot read the Anneal run: {_error_message(response)}")
    run = response.json()
    if run["status"] == "succeeded":
        return True
    if run["status"] in ("failed", "cancelled"):
        raise AirflowFailException(_describe_failure(run))
    progress = ", ".join(f"{n['key']}={n['status']}" for n in run.get("nodes") or [])
    log.info("Anneal pipeline run %s is %s: %s", run["id"], run["status"], progress)
    return False


def _poll_timing_from_params(context: Any) -> None:
    """Pre-execute hook of `wait_for_run`: HttpSensor does not template `poke_interval` or
    `timeout`, so they are set from the run's params just before it starts polling."""
    sensor = context["task"]
    sensor.poke_interval = float(context["params"]["poke_interval"])
    sensor.timeout = float(context["params"]["timeout"])


with DAG(
    dag_id="anneal_pipeline",
    description="Run an Anneal pipeline and wait for it to finish",
    schedule=None,
    catchup=False,
    tags=["anneal"],
    params={
        "pipeline_id": Param(
            type="string",
            minLength=1,
            description="Id of the Anneal pipeline to run",
        ),
        "params": Param(
            {},
            type="object",
            additionalProperties={"type": ["string", "number", "boolean"]},
            description='Values for the pipeline params, e.g. {"steps": 20}',
        ),
        "poke_interval": Param(
            30,
            type="number",
            minimum=1,
            description="Seconds between polls of the run's status",
        ),
        "timeout": Param(
            24 * 60 * 60,
            type="number",
            minimum=1,
            description="Seconds to wait for the run before failing",
        ),
    },
) as dag:
    trigger_run = HttpOperator(
        task_id="trigger_run",
        http_conn_id=CONN_ID,
        method="POST",
        endpoint="api/v1/pipelines/{{ params['pipeline_id'] | urlencode }}/runs",
        data="{{ {'params': params['params']} | tojson }}",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        extra_options=REQUEST_OPTIONS,
        response_check=_run_started,
        response_filter=_run_id,
    )

    wait_for_run = HttpSensor(
        task_id="wait_for_run",
        http_conn_id=CONN_ID,
        endpoint="api/v1/pipeline-runs/{{ ti.xcom_pull(task_ids='trigger_run') }}",
        headers={"Accept": "application/json"},
        extra_options=REQUEST_OPTIONS,
        response_check=_run_succeeded,
        pre_execute=_poll_timing_from_params,
        # Holds one worker slot for the whole run; "reschedule" frees it between polls, at
        # the cost of a task attempt per poll.
        mode="poke",
    )

    trigger_run >> wait_for_run

"""Drives Anneal's MLflow API with the official mlflow client (issue 15).

Usage: MLFLOW_TRACKING_URI=http://host:port MLFLOW_TRACKING_TOKEN=<Anneal API token> \
    python mlflow_scenario.py <experiment name> <model name>

Logs an experiment, params, 5,000 metric points (the client splits them into batches of at
most 1,000), tags, artifacts, two model versions and an alias; reads everything back through
search_runs, get_metric_history, the artifact repository and the registry client, asserting
as it goes; prints one JSON line with the ids for the caller to check through Anneal's own API.
"""

import json
import os
import sys
import tempfile
import time

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

POINTS = 5000


def loss_at(step: int) -> float:
    return 1.0 / (step + 1)


def main() -> None:
    experiment_name, model_name = sys.argv[1], sys.argv[2]
    client = MlflowClient()

    experiment = mlflow.set_experiment(experiment_name)
    with mlflow.start_run(run_name="from-mlflow") as run:
        run_id = run.info.run_id
        mlflow.log_params({"lr": "0.001", "batch_size": 64})
        mlflow.set_tags({"team": "vision", "origin": "mlflow-client"})
        t0 = int(time.time() * 1000)
        client.log_batch(
            run_id, metrics=[Metric("loss", loss_at(i), t0 + i, i) for i in range(POINTS)]
        )
        mlflow.log_metric("accuracy", 0.875, step=3)
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = os.path.join(tmp, "model")
            os.makedirs(model_dir)
            weights = bytes(range(256)) * 40
            with open(os.path.join(model_dir, "weights.bin"), "wb") as f:
                f.write(weights)
            with open(os.path.join(model_dir, "MLmodel"), "w") as f:
                f.write("artifact_path: model\nflavors: {}\n")
            mlflow.log_artifacts(model_dir, artifact_path="model")
            notes = os.path.join(tmp, "notes.txt")
            with open(notes, "w") as f:
                f.write("logged through the MLflow client\n")
            mlflow.log_artifact(notes)

    # The registry: a model, a version from the run's artifacts, then another through
    # mlflow.register_model (which lists the artifacts, finds MLmodel, and polls until READY).
    client.create_registered_model(model_name, description="registered via MLflow")
    v1 = client.create_model_version(model_name, f"runs:/{run_id}/model", run_id=run_id)
    assert v1.status == "READY", v1.status
    v2 = mlflow.register_model(f"runs:/{run_id}/model", model_name)
    assert (v1.version, v2.version) == ("1", "2"), (v1.version, v2.version)
    client.set_registered_model_alias(model_name, "champion", v1.version)

    # Read it all back.
    found = mlflow.search_runs(
        experiment_names=[experiment_name],
        filter_string="metrics.loss < 0.001 AND params.lr = '0.001' AND tags.team = 'vision'",
        output_format="list",
    )
    assert [r.info.run_id for r in found] == [run_id], found
    got = found[0]
    assert got.info.status == "FINISHED", got.info.status
    assert got.data.params == {"lr": "0.001", "batch_size": "64"}, got.data.params
    assert got.data.tags["team"] == "vision" and got.data.tags["mlflow.runName"] == "from-mlflow"
    assert got.data.metrics == {"loss": loss_at(POINTS - 1), "accuracy": 0.875}, got.data.metrics
    none = client.search_runs([experiment.experiment_id], "metrics.loss > 1")
    assert list(none) == [], none

    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(POINTS)), len(history)
    assert all(m.value == loss_at(m.step) for m in history)
    assert all(m.timestamp == t0 + m.step for m in history)

    listed = sorted((a.path, a.is_dir) for a in client.list_artifacts(run_id))
    assert listed == [("model", True), ("notes.txt", False)], listed
    inside = sorted(a.path for a in client.list_artifacts(run_id, "model"))
    assert inside == ["model/MLmodel", "model/weights.bin"], inside
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="model/weights.bin", dst_path=tmp
        )
        with open(path, "rb") as f:
            assert f.read() == weights

    model = client.get_registered_model(model_name)
    assert model.description == "registered via MLflow"
    assert model.aliases == {"champion": "1"}, model.aliases
    by_alias = client.get_model_version_by_alias(model_name, "champion")
    assert by_alias.version == "1" and by_alias.run_id == run_id
    versions = client.search_model_versions(f"name = '{model_name}'")
    assert sorted(v.version for v in versions) == ["1", "2"], versions
    assert all(v.source.endswith(f"/{run_id}/artifacts/model") for v in versions)
    assert [m.name for m in client.search_registered_models(f"name = '{model_name}'")] == [
        model_name
    ]

    print(
        json.dumps(
            {
                "experiment_id": experiment.experiment_id,
                "run_id": run_id,
                "versions": [v1.version, v2.version],
                "mlflow": mlflow.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()

"""MLflow model registry operations, timed in-process (run with ``.venv-peers/bin/python``).

``mlflow_ops.py serve --workdir W``: answers the runner's requests (``peer_common``);
``mlflow_ops.py read-champion --workdir W``: a fresh process that prints the champion.

Backend: SQLite (``sqlite:///W/mlflow.db``), artifacts under ``W/artifacts``; the champion
and challenger are the aliases ``champion`` / ``challenger`` of one registered model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # type: ignore[import-not-found, unused-ignore]
import mlflow.artifacts  # type: ignore[import-not-found, unused-ignore]
from mlflow import MlflowClient  # type: ignore[import-not-found, unused-ignore]

from benchmarks.peers.peer_common import check, serve, sha256_file, timed

NAME = "earthquake_model"
EXPERIMENT = "lifecycle-bench"


class Registry:
    """One MLflow registry in ``workdir``; the serving path is ``workdir/production``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.client = MlflowClient()
        self.downloads = 0

    def experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        location = (self.workdir / "artifacts").as_uri()
        return str(self.client.create_experiment(EXPERIMENT, artifact_location=location))

    def setup(self, request: dict[str, Any]) -> dict[str, Any]:
        """The registered model with ``versions`` versions (all sourced from one folder)."""
        self.exp_id = self.experiment_id()
        self.client.create_registered_model(NAME)
        source = str(Path(request["weights"]).parent)
        seconds, _ = timed(lambda: [self.client.create_model_version(NAME, source=source)
                                    for _ in range(request["versions"])])
        last = self.client.get_registered_model(NAME)
        self.client.set_registered_model_alias(NAME, "champion", request["versions"])
        return {"seconds": seconds, "mlflow": mlflow.__version__, "name": last.name}

    def register(self, request: dict[str, Any]) -> dict[str, Any]:
        """A run that logs the weights file, a model version from it, alias ``challenger``."""
        def op() -> str:
            run = self.client.create_run(self.exp_id)
            run_id = run.info.run_id
            self.client.log_artifact(run_id, request["weights"], artifact_path="model")
            self.client.set_terminated(run_id)
            version = self.client.create_model_version(
                NAME, source=f"{run.info.artifact_uri}/model", run_id=run_id).version
            self.client.set_registered_model_alias(NAME, "challenger", version)
            return str(version)

        seconds, version = timed(op)
        found = self.client.get_model_version_by_alias(NAME, "challenger")
        check(str(found.version) == version, f"challenger is {found.version}, not {version}")
        return {"s": seconds, "version": version}

    def _set_champion(self, version: str) -> None:
        self.client.set_registered_model_alias(NAME, "champion", version)
        self.client.delete_registered_model_alias(NAME, "challenger")

    def champion(self, request: dict[str, Any]) -> dict[str, Any]:
        version = str(request["version"])
        seconds, _ = timed(lambda: self._set_champion(version))
        found = str(self.client.get_model_version_by_alias(NAME, "champion").version)
        check(found == version, f"champion read back is {found}, not {version}")
        return {"s": seconds, "champion": found}

    def serve(self, request: dict[str, Any]) -> dict[str, Any]:
        """Set the alias, download ``models:/NAME@champion``, switch ``production`` to it."""
        version, production = str(request["version"]), self.workdir / "production"

        def op() -> str:
            self._set_champion(version)
            self.downloads += 1
            dst = self.workdir / "served" / str(self.downloads)
            dst.mkdir(parents=True)
            local = mlflow.artifacts.download_artifacts(f"models:/{NAME}@champion", dst_path=str(dst))
            tmp = self.workdir / "production.new"
            os.symlink(local, tmp)
            os.replace(tmp, production)
            return sha256_file(production / Path(request["weights"]).name)

        seconds, digest = timed(op)
        check(digest == request["sha256"], f"serving path holds {digest}, not {request['sha256']}")
        return {"s": seconds, "sha256": digest}

    def list(self, request: dict[str, Any]) -> dict[str, Any]:
        seconds, found = timed(lambda: list(self.client.search_model_versions(f"name='{NAME}'")))
        check(len(found) >= request["at_least"], f"listed {len(found)} versions")
        return {"s": seconds, "count": len(found)}


def read_champion(workdir: Path) -> None:
    version = MlflowClient().get_model_version_by_alias(NAME, "champion").version
    print(json.dumps({"champion": str(version)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "read-champion"])
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    registry = Registry(args.workdir)
    if args.mode == "read-champion":
        read_champion(args.workdir)
        return
    serve({"setup": registry.setup, "register": registry.register, "champion": registry.champion,
           "serve": registry.serve, "list": registry.list})


if __name__ == "__main__":
    main()

"""``eventsourcing`` operations, timed in-process (run with ``.venv-peers/bin/python``).

``es_ops.py serve --persistence sqlite|memory --workdir W``: answers the runner's requests;
``es_ops.py read-champion --workdir W``: a fresh process that reads the SQLite registry.

One aggregate ``ModelRegistry`` (events ``VersionRegistered``, ``ChampionSet``) in an
``Application``; persistence ``eventsourcing.sqlite`` (``SQLITE_DBNAME``) or
``eventsourcing.popo`` (in memory). No snapshots, no aggregate cache: every ``get``
reconstructs the aggregate from all its events, as the library does by default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eventsourcing.application import Application  # type: ignore[import-not-found, unused-ignore]
from eventsourcing.domain import Aggregate, event  # type: ignore[import-not-found, unused-ignore]

from benchmarks.peers.peer_common import check, serve, sha256_file, timed

METRICS = {"magnitude_accuracy": 97.63, "azimuth_accuracy": 71.28, "magnitude_macro_f1": 92.1,
           "magnitude_mcc": 0.93, "large_recall": 95.0, "false_positive_rate": 1.2, "stability": 96.5}


class ModelRegistry(Aggregate):  # type: ignore[misc, unused-ignore]
    """Versions (number -> weights digest, source, metrics), champion, challenger."""

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/model-registries/{name}")

    @event("Created")  # type: ignore[untyped-decorator, unused-ignore]
    def __init__(self, name: str) -> None:
        self.name = name
        self.versions: dict[int, dict[str, Any]] = {}
        self.champion: int | None = None
        self.challenger: int | None = None

    @event("VersionRegistered")  # type: ignore[untyped-decorator, unused-ignore]
    def register_version(self, version: int, sha256: str, source: str, metrics: dict[str, float]) -> None:
        self.versions[version] = {"sha256": sha256, "source": source, "metrics": metrics}
        self.challenger = version

    @event("ChampionSet")  # type: ignore[untyped-decorator, unused-ignore]
    def set_champion(self, version: int) -> None:
        if version not in self.versions:
            raise ValueError(f"no version {version}")
        self.champion = version
        if self.challenger == version:
            self.challenger = None


def application(persistence: str, workdir: Path) -> Any:
    env = {"PERSISTENCE_MODULE": f"eventsourcing.{'sqlite' if persistence == 'sqlite' else 'popo'}"}
    if persistence == "sqlite":
        env["SQLITE_DBNAME"] = str(workdir / "eventsourcing.db")
    return Application(env=env)


class Registry:
    """The registry aggregate (``registry``) and the rebuild aggregate (``rebuild``)."""

    def __init__(self, persistence: str, workdir: Path) -> None:
        self.workdir = workdir
        self.app = application(persistence, workdir)
        self.id = ModelRegistry.create_id("registry")
        self.rebuild_id = ModelRegistry.create_id("rebuild")
        self.expected: tuple[int, int | None] = (0, None)

    def get(self, aggregate_id: UUID | None = None) -> ModelRegistry:
        found: ModelRegistry = self.app.repository.get(aggregate_id or self.id)
        return found

    def setup(self, request: dict[str, Any]) -> dict[str, Any]:
        """The registry with ``versions`` versions, the last one champion."""
        weights, n = request["weights"], request["versions"]
        registry, digest = ModelRegistry("registry"), sha256_file(weights)

        def build() -> None:
            for version in range(1, n + 1):
                registry.register_version(version, digest, weights, METRICS)
            registry.set_champion(n)
            self.app.save(registry)

        seconds, _ = timed(build)
        return {"seconds": seconds}

    def setup_rebuild(self, request: dict[str, Any]) -> dict[str, Any]:
        """``events`` events in one aggregate: a ``ChampionSet`` after every nine registrations."""
        registry, weights = ModelRegistry("rebuild"), request["weights"]
        digest, version = sha256_file(weights), 0
        for i in range(request["events"] - 1):
            if i % 10 == 9:
                registry.set_champion(version)
            else:
                version += 1
                registry.register_version(version, digest, weights, METRICS)
        self.expected = (version, registry.champion)
        seconds, _ = timed(lambda: self.app.save(registry))
        return {"seconds": seconds, "events": registry.version, "versions": version}

    def rebuild(self, request: dict[str, Any]) -> dict[str, Any]:
        seconds, registry = timed(lambda: self.get(self.rebuild_id))
        got = (len(registry.versions), registry.champion)
        check(got == self.expected, f"rebuilt {got}, expected {self.expected}")
        check(registry.version == request["events"], f"rebuilt from {registry.version} events")
        return {"s": seconds, "events": registry.version}

    def register(self, request: dict[str, Any]) -> dict[str, Any]:
        weights = request["weights"]

        def op() -> int:
            registry = self.get()
            version = len(registry.versions) + 1
            registry.register_version(version, sha256_file(weights), weights, METRICS)
            self.app.save(registry)
            return version

        seconds, version = timed(op)
        check(self.get().challenger == version, f"challenger is not {version}")
        return {"s": seconds, "version": str(version)}

    def _set_champion(self, version: int) -> None:
        registry = self.get()
        registry.set_champion(version)
        self.app.save(registry)

    def champion(self, request: dict[str, Any]) -> dict[str, Any]:
        version = int(request["version"])
        seconds, _ = timed(lambda: self._set_champion(version))
        found = self.get().champion
        check(found == version, f"champion read back is {found}, not {version}")
        return {"s": seconds, "champion": str(found)}

    def serve(self, request: dict[str, Any]) -> dict[str, Any]:
        """Set the champion; a reader resolves it and switches ``production`` to its file."""
        version, production = int(request["version"]), self.workdir / "production"

        def op() -> str:
            self._set_champion(version)
            registry = self.get()
            champion = registry.champion
            check(champion is not None, "no champion after setting one")
            source = registry.versions[champion or 0]["source"]
            tmp = self.workdir / "production.new"
            os.symlink(source, tmp)
            os.replace(tmp, production)
            return sha256_file(production)

        seconds, digest = timed(op)
        check(digest == request["sha256"], f"serving path holds {digest}, not {request['sha256']}")
        return {"s": seconds, "sha256": digest}

    def list(self, request: dict[str, Any]) -> dict[str, Any]:
        seconds, found = timed(lambda: sorted(self.get().versions.items()))
        check(len(found) >= request["at_least"], f"listed {len(found)} versions")
        return {"s": seconds, "count": len(found)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "read-champion"])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--persistence", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()
    registry = Registry(args.persistence, args.workdir)
    if args.mode == "read-champion":
        print(json.dumps({"champion": str(registry.get().champion)}))
        return
    serve({"setup": registry.setup, "setup_rebuild": registry.setup_rebuild, "rebuild": registry.rebuild,
           "register": registry.register, "champion": registry.champion, "serve": registry.serve,
           "list": registry.list})


if __name__ == "__main__":
    main()

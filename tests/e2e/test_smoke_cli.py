from __future__ import annotations

from tests.conftest import Cli


def test_first_model_becomes_champion(cli: Cli, candidates, metrics_file) -> None:
    cli("submit", str(candidates[0]))
    cli("evaluate", "challenger", "--metrics-file",
        str(metrics_file(magnitude_accuracy=97.6, azimuth_accuracy=71.3)))
    cli("decide")
    status = cli.json("status")
    assert status["champion"]["model_id"] == "convnext_v1.0.0"
    assert status["challenger"] is None

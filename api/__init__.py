"""The Python API (an entry point): ``from api import ModelDeployer``."""

from api.deployer import ModelDeployer

__all__ = ["ModelDeployer"]

"""The Python API (an entry point): ``from api import ModelDeployer``.

``OriginalModelDeployer`` keeps the original system's names and shapes (also importable as
``autoupdate_pipeline.src.deployer.ModelDeployer``).
"""

from api.deployer import ModelDeployer
from api.original import OriginalModelDeployer

__all__ = ["ModelDeployer", "OriginalModelDeployer"]

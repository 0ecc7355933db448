"""``from autoupdate_pipeline.src.deployer import ModelDeployer``, as in the original system.

The class is ``api.original.OriginalModelDeployer``: the original's method names and result
shapes over this product's log and engine (see its docstring for how it finds the registry
and where it differs from the original on purpose).
"""

from api.original import OriginalModelDeployer as ModelDeployer

__all__ = ["ModelDeployer"]

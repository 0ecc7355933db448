"""Compatibility shim for scripts written against the original pipeline (an entry point).

``from autoupdate_pipeline.src.deployer import ModelDeployer`` gives the original names and
shapes over this product's engine (``api.original.OriginalModelDeployer``).
"""

"""lifecycle: the pure domain of the model lifecycle engine.

State, commands, domain events (``lifecycle.schema``), ``decide``, ``evolve``, policy,
statistics, transitions and domain errors. No module here does I/O or imports any other
package of the project (``make lint`` checks it with import-linter). The Python API,
``ModelDeployer``, is an entry point: ``from api import ModelDeployer``.
"""

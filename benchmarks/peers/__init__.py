"""Side-by-side benchmarks against MLflow's model registry and the ``eventsourcing`` library.

The peers run in their own virtualenv (``.venv-peers``) as child processes
(``mlflow_ops.py``, ``es_ops.py``); this package's runner (``python -m benchmarks.peers.run``)
runs in the product's ``.venv`` and never imports them.
"""

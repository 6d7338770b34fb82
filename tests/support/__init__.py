"""What the tests share besides fixtures: servers, schemas, validators, the tests' own strategies.

Imported as ``support.<module>``: ``tests/`` is on ``sys.path`` (pytest's ``pythonpath`` setting in
pyproject.toml), and processes the tests start inherit it (spawned engine workers get the parent's
``sys.path``; subprocesses get ``PYTHONPATH``). Nothing is imported here: engine workers import
``support.strategies_for_tests`` and nothing else.
"""

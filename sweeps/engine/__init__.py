"""The sweep engine: everything between an experiment declaration and a finished, exported sweep.

A declaration (``sweeps/<family>.py``) needs only what this package exports::

    from sweeps.engine import Record, Sweep, main, tune

The modules, in the order a run meets them: ``sweep`` (the declaration types), ``cli`` and
``plan`` (the command line resolved and checked, no I/O), ``space`` and ``space_checks``
(search-space helpers and the configs it can produce), ``preflight`` (the outside world),
``runner`` (Ray, Tune, exit codes), ``fair_asha`` (the budget-fair scheduler), ``search``
(Optuna per arm), ``trackers`` and ``integrations`` (optional tools), ``confirm`` (the
confirmation stage), ``dry_run`` and ``resources`` (what a sweep would run and cost),
``listing`` (``python -m sweeps``). Importing this package starts nothing and imports
neither Ray nor Keras.
"""

from sweeps.engine.runner import main
from sweeps.engine.sweep import Record, Space, Sweep, tune

__all__ = ["Record", "Space", "Sweep", "main", "tune"]

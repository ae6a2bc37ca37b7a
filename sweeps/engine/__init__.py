"""The sweep engine: everything between an experiment declaration and a finished, exported sweep.

A declaration (``sweeps/<family>.py``) needs only what this package exports::

    from sweeps.engine import Record, Sweep, exit_fast, main, tune

The modules, in the order a run meets them (importing this package imports neither Ray nor Keras):

- ``sweep``: the declaration types (`Sweep`, `Record`, `tune`).
- ``runner``: `main`, the front door: parse once, then plan, run, end with one line and an exit code;
  `exit_fast`, the scripts' end without the interpreter's slow teardown of TensorFlow and Ray.
- ``cli``: the flags of every sweep script, parsed into typed values; the resume command.
- ``early_checks``: what the command line alone refuses, before Keras and Ray Tune are imported.
- ``admission``: an --address that answers and admits this driver's token (Ray's core only, asked early).
- ``errors``: the user's errors, exit codes and limits every module shares (a leaf).
- ``plan``: the parsed command line resolved and checked into a `Plan` (no I/O).
- ``space/``: the search space in one home: ``keys`` (how it is spelled), ``overrides`` (typed
  `--set`), ``build`` (from a declaration and the command line), ``checks`` (every config it can produce).
- ``steps``: the steps a sweep takes, top to bottom (`run`, `dry_run`).
- ``dry_run``: what a sweep would run and cost, printed without starting anything.
- ``resources``: the GPU-share rule and how many trials fit at once.
- ``packing``: `--pack`, how many seeds of one configuration one trial trains (a pack), stage by stage.
- ``preflight``: the outside world checked before Ray starts (experiment folder, storage, address, data).
- ``locations``: where the experiments live: names, folders, Tune's storage arguments, cleanup.
- ``lease``: one driver per experiment, a lease file the live driver renews.
- ``ray_session``: the Ray instance: started or joined, its environment, token, GPUs, dashboard line.
- ``dashboard``: the job named after the experiment, each trial actor labelled, the console lines of `--dashboard`.
- ``sweep_metrics``: the sweep as Ray metrics (a Tune callback, with `--dashboard`).
- ``shared_storage``: a local storage path checked to be one disk on every node of a cluster.
- ``stages/``: ``search`` (the search stage) and ``confirmation`` (its confirmation), each one
  Tune experiment with its own settings, words and dry-run lines; ``first_stage`` picks where to start.
- ``tune_run``: one stage's Tune experiment, from its trainable to its tables and exit code.
- ``fair_asha``: budget-fair ASHA, every arm with its own rungs.
- ``arm_search``: `--search optuna`, a TPE per arm over the nuisance dimensions.
- ``looks``: the confirmation's searcher, adding seeds look by look until every comparison is decided.
- ``look_size``: `--confirm-batch auto`, how many seeds a look adds, from what a look costs on the machine.
- ``lost_trials``: no trial silently lost: errored trials saved and named at the end.
- ``trackers``: `--tracker mlflow|wandb|aim`, Tune's own logger callbacks.
- ``signals``: Ctrl-C, SIGTERM and SIGHUP end a sweep resumably.
- ``exits``: the one line and the exit code for each way a sweep ends.
- ``compat``: old module names, only while a resumed experiment is unpickled.
- ``listing``: ``python -m sweeps``: families, activations, models and datasets from the registries;
  ``catalogue`` reads their rows.
"""

from sweeps.engine.runner import exit_fast, main
from sweeps.engine.sweep import Record, Space, Sweep, tune

__all__ = ["Record", "Space", "Sweep", "exit_fast", "main", "tune"]

"""`--tracker mlflow|wandb|aim`: Ray Tune's own logger callbacks, one tracker run per trial.

Each callback logs a trial's flat config as the run's parameters and every per-epoch
result as metrics (step = Tune's training iteration, which is the epoch here). Where the
runs go follows each tool's usual environment variables, then `--tracker-uri` /
`--tracker-project`, then a default beside the experiment, so nothing lands in the
working directory by surprise. With the experiments on object storage (`--storage-path s3://...`)
that default is local to the driver, under ~/ray_results (`locations.LOCAL_FALLBACK`): an SQLite
database, an Aim repository and W&B's offline runs are files, which a bucket cannot hold.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Sequence

from sweeps.engine.locations import tracker_root

TRACKERS = ("mlflow", "wandb", "aim")
MODULES = {"mlflow": "mlflow", "wandb": "wandb", "aim": "aim"}  # tracker -> module to import
DATABASE_SCHEMES = ("sqlite", "mysql", "postgresql", "mssql")


def missing_package_message(names: Sequence[str], uri: str | None = None) -> str | None:
    """One line naming the extra to install for the first tracker whose package is absent.

    MLflow's database stores (the default SQLite one included) need SQLAlchemy and Alembic,
    which the full `mlflow` package brings and `mlflow-skinny` does not; without them MLflow
    would fail inside Tune, after Ray started.
    """
    for name in names:
        if importlib.util.find_spec(MODULES[name]) is None:
            return f"--tracker {name} needs the {MODULES[name]!r} package: pip install -e \".[{name}]\""
    if "wandb" in names and not wandb_credentials():
        return ("--tracker wandb: no W&B API key; run `wandb login`, set WANDB_API_KEY, "
                "or log offline with WANDB_MODE=offline")
    store = uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:"
    database = store.split(":", 1)[0] in DATABASE_SCHEMES
    if "mlflow" in names and database and not all(importlib.util.find_spec(module) for module in ("sqlalchemy", "alembic")):
        return (f"--tracker mlflow with a database store ({store.split(':', 1)[0]}) needs the full 'mlflow' package: "
                f"pip install -e \".[mlflow]\" (or --tracker-uri of a server or file store)")
    return None


def wandb_credentials() -> bool:
    """What Ray's WandbLoggerCallback.setup accepts (offline mode, a key, a login, a key hook);
    it raises a bare ValueError inside Tune otherwise."""
    if os.environ.get("WANDB_MODE") in ("offline", "disabled"):
        return True
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_SETUP_API_KEY_HOOK"):
        return True
    import wandb  # optional extra: wandb (checked installed before this runs)

    try:
        wandb.ensure_configured()
        return bool(wandb.api.api_key)
    except AttributeError:
        return False


def mlflow_uri(uri: str | None, storage_path: str) -> str:
    """--tracker-uri, else $MLFLOW_TRACKING_URI, else a SQLite store beside the experiments (on
    object storage: under the local fallback)."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(tracker_root(storage_path)) / 'mlflow.db'}"


def mlflow_callback(name: str, storage_path: str, uri: str | None, project: str | None) -> Any:
    from ray.air.integrations.mlflow import MLflowLoggerCallback  # optional extra: mlflow

    experiment = project or os.environ.get("MLFLOW_EXPERIMENT_NAME") or name
    return MLflowLoggerCallback(tracking_uri=mlflow_uri(uri, storage_path), experiment_name=experiment,
                                tags={"sweep": name})


def wandb_callback(name: str, family: str, experiment_dir: Path, project: str | None) -> Any:
    """Project: --tracker-project, $WANDB_PROJECT, else the sweep family; one group per sweep.

    Offline runs (WANDB_MODE=offline) go to $WANDB_DIR, else into the experiment directory.
    """
    from ray.air.integrations.wandb import WandbLoggerCallback  # optional extra: wandb

    extra = {} if os.environ.get("WANDB_DIR") else {"dir": str(experiment_dir)}
    return WandbLoggerCallback(project=project or os.environ.get("WANDB_PROJECT") or family, group=name, **extra)


def aim_callback(name: str, storage_path: str, uri: str | None) -> Any:
    """Repository: --tracker-uri, $AIM_REPO, else the storage path (one .aim repo for all sweeps;
    on object storage: the local fallback)."""
    from ray.tune.logger.aim import AimLoggerCallback  # optional extra: aim

    return AimLoggerCallback(repo=uri or os.environ.get("AIM_REPO") or tracker_root(storage_path), experiment_name=name)


def tracker_callbacks(names: Sequence[str], *, name: str, family: str, storage_path: str,
                      uri: str | None = None, project: str | None = None) -> list[Any]:
    """The Tune callbacks for `names` (each at most once, in the order given)."""
    callbacks = []
    for tracker in dict.fromkeys(names):
        if tracker == "mlflow":
            callbacks.append(mlflow_callback(name, storage_path, uri, project))
        elif tracker == "wandb":
            callbacks.append(wandb_callback(name, family, Path(tracker_root(storage_path)) / name, project))
        elif tracker == "aim":
            callbacks.append(aim_callback(name, storage_path, uri))
        else:
            raise ValueError(f"unknown tracker {tracker!r}; known: {', '.join(TRACKERS)}")
    return callbacks


def callbacks(plan: Any) -> list[Any]:
    """The Tune callbacks of a plan's `--tracker`s."""
    return tracker_callbacks(plan.tools.trackers, name=plan.name, family=plan.sweep.family,
                             storage_path=plan.storage_path, uri=plan.tools.tracker_uri,
                             project=plan.tools.tracker_project)

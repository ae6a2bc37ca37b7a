"""What a resumed trial continues from when the checkpoint Tune recorded for it is gone.

Ray's checkpoint manager deletes a superseded checkpoint the moment it registers the next one
(`register_checkpoint`, with `num_to_keep=1`), but writes the experiment state that names a
trial's latest checkpoint only at its next snapshot. A run killed between the two leaves a
state naming a deleted, or half-deleted, directory, and Ray's `Trainable.restore` refuses it
("does not exist on storage anymore") on every retry: the trial ended ERROR on `--resume` (a
CI run of tests/engine/test_confirm.py hit this window). So:

- on `--resume`, before `Tuner.restore`, `recreate_lost_checkpoints` puts back an empty
  directory (with a note) where an unfinished trial's recorded checkpoint was, so that Ray hands
  the restore to the trainable;
- the trainable continues from `checkpoint_to_load`: the recorded checkpoint when it is whole,
  else the newest whole checkpoint *older* than it, else none (from scratch). Never a newer one:
  a worker that outlived its driver can have written one whose epoch Tune never logged.

Epochs run again replace their earlier rows in the tables (`analysis.store.tune_files`), and ASHA
counts the trainable's own `epoch`, so a trial that goes back a few epochs stays consistent.
Storage is reached through the checkpoint's own pyarrow filesystem: local or remote alike.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
STATE_FILE = "state.json"
# A pack's checkpoint (trainables.pack): this file, written last, and each member still training's
# MODEL_FILE and STATE_FILE in its own directory.
PACK_FILE = "pack.json"
MEMBER_DIRECTORY = "member_{index}"
# A pack trial's config key listing each member's own settings (trainables.pack_trial); here, where
# modules that must not import TensorFlow (the engine, the analysis) can read it.
PACK_KEY = "pack_members"
LOST_NOTE = "LOST.txt"
_CHECKPOINT_NAME = re.compile(r"checkpoint_(\d+)")


def _exists(filesystem: Any, path: str) -> bool:
    import pyarrow.fs

    return filesystem.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def is_whole(filesystem: Any, path: str) -> bool:
    """Both files a checkpoint of this project holds are there (a half-deleted one lacks some); in a
    pack's checkpoint, its own file and both files of every member it holds."""
    import pyarrow.fs

    infos = filesystem.get_file_info([f"{path}/{MODEL_FILE}", f"{path}/{STATE_FILE}", f"{path}/{PACK_FILE}"])
    if infos[2].type != pyarrow.fs.FileType.File:
        return all(info.type == pyarrow.fs.FileType.File for info in infos[:2])
    try:
        with filesystem.open_input_stream(f"{path}/{PACK_FILE}") as stream:
            state = json.loads(stream.read())
        held = [index for index in range(int(state["members"])) if str(index) not in state["diverged"]]
    except (ValueError, KeyError, TypeError):  # half written
        return False
    members = [f"{path}/{MEMBER_DIRECTORY.format(index=index)}" for index in held]
    infos = filesystem.get_file_info([f"{member}/{name}" for member in members for name in (MODEL_FILE, STATE_FILE)])
    return all(info.type == pyarrow.fs.FileType.File for info in infos)


def _older_siblings(filesystem: Any, path: str) -> list[str]:
    """The trial's other checkpoint directories with a lower index, newest first."""
    import pyarrow.fs

    parent, _, name = path.rstrip("/").rpartition("/")
    own = _CHECKPOINT_NAME.fullmatch(name)
    if own is None:
        return []
    older = []
    for info in filesystem.get_file_info(pyarrow.fs.FileSelector(parent)):
        match = _CHECKPOINT_NAME.fullmatch(info.base_name)
        if info.type == pyarrow.fs.FileType.Directory and match and int(match[1]) < int(own[1]):
            older.append((int(match[1]), info.path))
    return [found for _, found in sorted(older, reverse=True)]


def checkpoint_to_load(checkpoint: Any) -> Any:
    """The checkpoint a restored trial loads: Tune's own if whole, else the newest whole older
    one, else None (train from scratch)."""
    from ray import tune

    filesystem, path = checkpoint.filesystem, checkpoint.path
    if is_whole(filesystem, path):
        return checkpoint
    for older in _older_siblings(filesystem, path):
        if is_whole(filesystem, older):
            log.warning("checkpoint %s was lost when the run was interrupted; continuing from %s", path, older)
            return tune.Checkpoint(older, filesystem=filesystem)
    log.warning("checkpoint %s was lost when the run was interrupted and no earlier one is whole; "
                "training this trial from scratch", path)
    return None


def recorded_checkpoints(experiment_path: str, filesystem: Any = None) -> dict[str, Any]:
    """Each unfinished trial's latest checkpoint as Tune's saved state names it: what
    `Tuner.restore` restores it from (`Trial.checkpoint`). Empty before the first state snapshot.

    `experiment_path` is a local path, or a path on `filesystem` (a pyarrow filesystem: object
    storage, as `analysis.store.storage.ray_storage` gives it)."""
    from ray import tune

    try:
        trials = tune.ExperimentAnalysis(experiment_path, storage_filesystem=filesystem).trials
    except ValueError:  # no experiment state saved yet (or one being rewritten): nothing recorded
        return {}
    return {trial.trial_id: trial.checkpoint for trial in trials
            if trial.status != "TERMINATED" and trial.checkpoint is not None}


def recreate_lost_checkpoints(experiment_path: str, filesystem: Any = None) -> list[str]:
    """Recreate, empty, each unfinished trial's recorded checkpoint that is no longer on storage;
    the trial ids whose checkpoint was recreated."""
    recreated = []
    for trial_id, checkpoint in sorted(recorded_checkpoints(experiment_path, filesystem).items()):
        filesystem, path = checkpoint.filesystem, checkpoint.path
        if _exists(filesystem, path):
            continue
        filesystem.create_dir(path)
        with filesystem.open_output_stream(f"{path}/{LOST_NOTE}") as note:
            note.write(b"Tune deleted this checkpoint before saving the experiment state that names it "
                       b"(the run was interrupted in between). --resume recreated the directory so the "
                       b"trial could restart; it continued from an earlier checkpoint or from scratch.\n")
        recreated.append(trial_id)
    return recreated

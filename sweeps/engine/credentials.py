"""Storage credentials stay out of what Ray records: every node brings its own.

Measured with Ray 2.60 (tests/engine/test_object_storage.py, the test that searches everything a
sweep wrote for the keys in its environment): Ray Tune copies the driver's `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SECURITY_TOKEN` and `AWS_SESSION_TOKEN` into the runtime env of every
trial actor (`ray/tune/execution/class_cache.py`, `ENV_VARS_TO_PROPAGATE`), so that trials on nodes
without them still reach S3. Ray's runtime-env agent then logs that runtime env, keys in clear, to
`runtime_env_agent.log` on every node (at INFO, three lines per trial actor), and the GCS keeps it
with each actor, where the dashboard and `ray list actors --detail` show it.

This project takes credentials from each process's own environment instead (docs/clusters.md): a
local instance's trial workers inherit the driver's environment through the raylet it starts, and a
cluster's nodes have what `ray start` was given (a Kubernetes Secret, `srun`'s environment). So the
sweep turns that propagation off before its first trial. Ray has no public switch for it; this edits
Tune's set in place (its class cache reads the set whenever it registers a trainable), the project's
second reach into Ray's internals after `runner.use_auth_token_if_present`, kept to this function.
A Ray without that set changes nothing here, and the test above says whether keys leak again.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

CREDENTIAL_VARIABLES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                                  "AWS_SESSION_TOKEN"})


def keep_credentials_out_of_runtime_envs() -> None:
    """Stop Tune from copying the driver's storage keys into its trial actors' runtime env."""
    try:
        from ray.tune.execution import class_cache
    except ImportError:  # a Ray that moved it: nothing to turn off here
        return
    propagated = getattr(class_cache, "ENV_VARS_TO_PROPAGATE", None)
    if isinstance(propagated, set) and propagated & CREDENTIAL_VARIABLES:
        propagated.difference_update(CREDENTIAL_VARIABLES)
        log.debug("Tune no longer copies %s into trial runtime envs", sorted(CREDENTIAL_VARIABLES))

"""The cluster recipes in deploy/: their structure, and the sweep command each holds, run with
--dry-run through the real command line (a renamed flag breaks this). No cluster, no storage: the
dry run does not touch an s3:// storage path, and --address is dropped because the dry run would
connect to it to read the cluster's resources."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from support import REPO_ROOT

RAYJOB = REPO_ROOT / "deploy" / "kuberay-rayjob.yaml"
SLURM = REPO_ROOT / "deploy" / "slurm-sweep.sh"
SECRET_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


def _without_address(argv: list[str]) -> list[str]:
    """The command without `--address VALUE` / `--address=VALUE` (the dry run would join it)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--address":
            skip = True
        elif not arg.startswith("--address="):
            kept.append(arg)
    return kept


def _dry_run(argv: list[str]) -> subprocess.CompletedProcess:
    assert argv[:2] and argv[0] == "python" and argv[1].startswith("sweeps/"), argv
    env = {name: value for name, value in os.environ.items() if name != "RAY_ADDRESS"}
    return subprocess.run([sys.executable, *_without_address(argv)[1:], "--dry-run"], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=300, env=env)


# --- KubeRay ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rayjob() -> dict:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with ray[default]
    return yaml.safe_load(RAYJOB.read_text())


def _containers(rayjob: dict) -> list[dict]:
    cluster = rayjob["spec"]["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [container for group in groups for container in group["template"]["spec"]["containers"]]


def test_the_rayjob_manifest_is_a_rayjob_with_the_documented_fields(rayjob: dict) -> None:
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob" and rayjob["metadata"]["name"]
    spec = rayjob["spec"]
    assert isinstance(spec["entrypoint"], str) and spec["submissionMode"] == "K8sJobMode"
    assert spec["shutdownAfterJobFinishes"] is True and spec["backoffLimit"] == 0
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == "2.60.0" and cluster["authOptions"] == {"mode": "token"}
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert cluster["workerGroupSpecs"] and all(group["groupName"] for group in cluster["workerGroupSpecs"])
    assert "dashboard-host" not in cluster["headGroupSpec"]["rayStartParams"]
    text = RAYJOB.read_text()
    assert "ray get-auth-token" in text and "127.0.0.1" in text


def test_credentials_reach_every_ray_pod_from_a_secret_and_nowhere_else(rayjob: dict) -> None:
    import yaml

    for container in _containers(rayjob):
        env = {item["name"]: item for item in container["env"]}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name and "value" not in env[name]
        assert env["AWS_ENDPOINT_URL"]["value"].startswith("http")
    runtime_env = yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])
    assert not SECRET_VARIABLES & set(runtime_env.get("env_vars", {}))
    assert "@" not in rayjob["spec"]["entrypoint"] and "key=" not in rayjob["spec"]["entrypoint"]


def test_the_rayjob_entrypoint_is_a_valid_sweep_command(rayjob: dict) -> None:
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert "--address" not in argv  # a Ray job's driver joins its cluster through RAY_ADDRESS
    storage = argv[argv.index("--storage-path") + 1]
    name = argv[argv.index("--name") + 1]
    assert storage.startswith("s3://")
    completed = _dry_run(argv)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"would create {storage}/{name}" in completed.stdout


# --- Slurm -----------------------------------------------------------------------------------------


def _slurm_sweep(environment: dict[str, str]) -> list[str]:
    """The SWEEP array of the script's marked block, expanded by bash itself."""
    text = SLURM.read_text()
    block = text[text.index("# >>> sweep"):text.index("# <<< sweep")]
    script = f'set -euo pipefail\n{block}\nprintf "%s\\0" "${{SWEEP[@]}}"'
    completed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                               env={"PATH": os.environ["PATH"], **environment})
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split("\0")[:-1]


def test_the_slurm_script_is_valid_bash_and_uses_symmetric_run_with_a_token() -> None:
    assert subprocess.run(["bash", "-n", str(SLURM)], timeout=30).returncode == 0
    text = SLURM.read_text()
    assert 'ray symmetric-run --address "$RAY_HEAD_ADDRESS"' in text and '-- "${SWEEP[@]}"' in text
    assert "export RAY_AUTH_MODE=token" in text and "ray get-auth-token" in text
    assert "127.0.0.1" in text and "--dashboard-host" not in text.split("set -euo pipefail")[1]
    assignments = re.findall(r"^\s*(?:export\s+)?(\w+)=", text, flags=re.MULTILINE)
    assert not SECRET_VARIABLES & set(assignments)  # keys come from the environment, never this file


def test_the_slurm_sweep_gets_the_cluster_address_and_is_a_valid_sweep_command() -> None:
    argv = _slurm_sweep({"RAY_HEAD_ADDRESS": "10.0.0.5:6379", "SLURM_JOB_ID": "4242"})
    assert argv[argv.index("--address") + 1] == "10.0.0.5:6379"
    assert argv[argv.index("--storage-path") + 1] == "s3://BUCKET/actsweep"
    assert argv[argv.index("--name") + 1] == "aprelu-slurm-4242"
    completed = _dry_run(argv)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "would create s3://BUCKET/actsweep/aprelu-slurm-4242" in completed.stdout


def test_ray_has_the_commands_the_slurm_script_runs() -> None:
    for command in (["symmetric-run", "--help"], ["get-auth-token", "--help"]):
        completed = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *command], capture_output=True,
                                   text=True, timeout=120)
        assert completed.returncode == 0, completed.stderr[-2000:]

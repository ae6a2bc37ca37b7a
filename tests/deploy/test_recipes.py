"""The cluster recipes in deploy/: their structure, and the sweep command each holds, run with
--dry-run through the script's own `main` and parser (a renamed flag breaks this). No cluster, no storage: the
dry run does not touch an s3:// storage path, and --address is dropped because the dry run would
connect to it to read the cluster's resources."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO_ROOT
from sweeps import families
from sweeps.engine import main

RAYJOB = REPO_ROOT / "deploy" / "kuberay-rayjob.yaml"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
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


def _dry_run(argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """The command with --dry-run, run by the script's own `main` in this process (the same parse and
    plan as `python sweeps/X.py`, without a second 6 s Keras import); exit code, stdout, stderr."""
    script = argv[1].removeprefix("/app/") if len(argv) > 1 else ""
    assert argv[0] == "python" and script.startswith("sweeps/") and script.endswith(".py"), argv
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    sweep = families()[Path(script).stem]
    capsys.readouterr()
    code = main(sweep, [*_without_address(argv)[2:], "--dry-run"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
    assert "v1.5.1" in RAYJOB.read_text().split("apiVersion:")[0]
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
    runtime_env = yaml.safe_load(rayjob["spec"].get("runtimeEnvYAML") or "{}")
    assert not SECRET_VARIABLES & set(runtime_env.get("env_vars", {}))
    assert "@" not in rayjob["spec"]["entrypoint"] and "key=" not in rayjob["spec"]["entrypoint"]


def test_the_rayjob_entrypoint_is_a_valid_sweep_command(rayjob: dict, capsys, monkeypatch) -> None:
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert "--address" not in argv  # a Ray job's driver joins its cluster through RAY_ADDRESS
    storage = argv[argv.index("--storage-path") + 1]
    name = argv[argv.index("--name") + 1]
    assert storage.startswith("s3://")
    code, out, err = _dry_run(argv, capsys, monkeypatch)
    assert code == 0, err[-3000:]
    assert f"would create {storage}/{name}" in out


RAYJOB_SCHEMA = REPO_ROOT / "tests" / "fixtures" / "kuberay" / "rayjob-v1.schema.json"


@pytest.fixture(scope="module")
def rayjob_schema() -> dict:
    """The RayJob API the manifest may use (the fixture's $comment: its version and sources)."""
    return json.loads(RAYJOB_SCHEMA.read_text())


def test_the_rayjob_is_valid_against_kuberays_rayjob_api(rayjob: dict, rayjob_schema: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    assert rayjob_schema["x-kuberay-version"] in RAYJOB.read_text().split("apiVersion:")[0]
    jsonschema.Draft202012Validator.check_schema(rayjob_schema)
    jsonschema.validate(rayjob, rayjob_schema, cls=jsonschema.Draft202012Validator)
    for group in rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


@pytest.mark.parametrize("change", [
    lambda job: job["spec"].update(submitionMode="K8sJobMode"),  # a misspelt field
    lambda job: job["spec"].update(submissionMode="K8sMode"),
    lambda job: job["spec"]["rayClusterSpec"]["authOptions"].update(mode="tokens"),
    lambda job: job["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}),
    lambda job: job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].pop("groupName"),
    lambda job: job["spec"].update(ttlSecondsAfterFinished="600"),
], ids=["misspelt", "mode", "auth", "start-param-int", "no-group-name", "ttl-string"])
def test_the_schema_refuses_what_kuberay_would(rayjob: dict, rayjob_schema: dict, change) -> None:
    """The check can fail: each edit is one KubeRay's API server rejects (or, for a misspelt field,
    drops in silence)."""
    jsonschema = pytest.importorskip("jsonschema")
    broken = copy.deepcopy(rayjob)
    change(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, rayjob_schema, cls=jsonschema.Draft202012Validator)


def test_one_gpu_image_everywhere_and_gpu_workers_tolerate_the_gpu_taint(rayjob: dict) -> None:
    assert {container["image"] for container in _containers(rayjob)} == {"IMAGE"}
    cluster = rayjob["spec"]["rayClusterSpec"]
    base = re.search(r"^FROM (\S+)$", DOCKERFILE.read_text(), flags=re.MULTILINE).group(1)
    assert base == f"rayproject/ray:{cluster['rayVersion']}-py311-gpu"
    assert 'pip install --no-cache-dir -e "/app[gpu]"' in DOCKERFILE.read_text()
    for group in cluster["workerGroupSpecs"]:
        pod = group["template"]["spec"]
        wants_gpu = any("nvidia.com/gpu" in container["resources"].get("limits", {}) for container in pod["containers"])
        if wants_gpu:
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    header = RAYJOB.read_text().split("apiVersion:")[0]
    assert "docker build -f deploy/Dockerfile" in header and "rayproject/ray:2.60.0-py311-gpu" in header


def test_the_image_leaves_out_git_results_and_data() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    ignored = {line for line in lines if line and not line.startswith("#")}
    assert {".git", "results", "ray_results", "data", "**/__pycache__"} <= ignored
    assert "trainables" not in ignored and "sweeps" not in ignored and "analysis" not in ignored


def test_the_header_says_where_the_token_secret_and_the_head_service_are(rayjob: dict) -> None:
    header = RAYJOB.read_text().split("apiVersion:")[0]
    name = rayjob["metadata"]["name"]
    assert f"kubectl get rayjob {name} -o jsonpath='{{.status.rayClusterName}}'" in header
    assert 'svc/$CLUSTER-head-svc' in header and "ray get-auth-token" in header
    assert "IRSA" in header and "Workload Identity" in header


# --- Slurm -----------------------------------------------------------------------------------------


def _block(name: str) -> str:
    """The lines between `# >>> name` and `# <<< name` in the Slurm script."""
    text = SLURM.read_text()
    return text[text.index(f"# >>> {name}"):text.index(f"# <<< {name}")]


def _slurm_sweep(environment: dict[str, str], *arguments: str) -> list[str]:
    """The SWEEP array of the script's marked block, expanded by bash itself (`arguments`: the
    script's own, as `sbatch deploy/slurm-sweep.sh ARGS` passes them)."""
    script = f'set -euo pipefail\n{_block("sweep")}\nprintf "%s\\0" "${{SWEEP[@]}}"'
    completed = subprocess.run(["bash", "-c", script, "slurm-sweep.sh", *arguments], capture_output=True, text=True,
                               timeout=30, env={"PATH": os.environ["PATH"], **environment})
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


def test_the_slurm_script_gives_every_node_its_cpus_and_gpus_exclusively() -> None:
    """The findings of issue 32: srun no longer reads SLURM_CPUS_PER_TASK (Slurm 22.05), Ray's own
    template passes the GPUs, symmetric-run's `ray stop` stops every Ray on the node, and the
    head found by `hostname --ip-address` is 127.0.1.1 on many systems."""
    text = SLURM.read_text()
    directives = re.findall(r"^#SBATCH (\S+)", text, flags=re.MULTILINE)
    assert "--exclusive" in directives and "--ntasks-per-node=1" in directives
    run = text[text.rindex("\nsrun "):]
    assert '--cpus-per-task="$SLURM_CPUS_PER_TASK"' in run and '--num-cpus "$SLURM_CPUS_PER_TASK"' in run
    assert '${SLURM_GPUS_PER_TASK:+--num-gpus "$SLURM_GPUS_PER_TASK"}' in run
    assert "RAY_SYMMETRIC_RUN_CLUSTER_WAIT_TIMEOUT" in text.split("set -euo pipefail")[1]
    commands = [line for line in text.split("set -euo pipefail")[1].splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in commands if "hostname --ip-address" in line or "hostname -i" in line]


def test_the_slurm_script_makes_one_token_readable_by_its_owner_only(tmp_path) -> None:
    script = f'set -euo pipefail\n{_block("token")}\nprintf "%s %s" "$RAY_AUTH_MODE" "$RAY_AUTH_TOKEN_PATH"'
    home = tmp_path / "home"
    home.mkdir()

    def run(**environment: str) -> str:
        completed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                                   env={"PATH": os.environ["PATH"], "HOME": str(home), **environment})
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    token = home / ".ray" / "auth_token"
    assert run() == f"token {token}"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600 and re.fullmatch(r"[0-9a-f]{64}\n", token.read_text())
    made = token.read_text()
    token.chmod(0o644)  # as `ray get-auth-token --generate` leaves one, under the usual umask
    assert run() == f"token {token}" and token.read_text() == made  # kept, and closed
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    shared = tmp_path / "shared" / "token"
    assert run(RAY_AUTH_TOKEN_PATH=str(shared)) == f"token {shared}"
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600 and shared.read_text() != made


def test_the_slurm_sweep_gets_the_cluster_address_and_is_a_valid_sweep_command(capsys, monkeypatch) -> None:
    argv = _slurm_sweep({"RAY_HEAD_ADDRESS": "10.0.0.5:6379", "SLURM_JOB_ID": "4242"})
    assert argv[:2] == ["python", "sweeps/aprelu_cifar.py"]
    assert argv[argv.index("--address") + 1] == "10.0.0.5:6379"
    assert argv[argv.index("--storage-path") + 1] == "s3://BUCKET/actsweep"
    assert argv[argv.index("--name") + 1] == "aprelu-slurm-4242"
    code, out, err = _dry_run(argv, capsys, monkeypatch)
    assert code == 0, err[-3000:]
    assert "would create s3://BUCKET/actsweep/aprelu-slurm-4242" in out


def test_the_slurm_scripts_arguments_choose_another_sweep(capsys, monkeypatch) -> None:
    argv = _slurm_sweep({"RAY_HEAD_ADDRESS": "10.0.0.5:6379", "STORAGE_PATH": "/shared/actsweep",
                         "EXPERIMENT": "selu"}, "sweeps/selu_mnist.py", "--num-samples", "4")
    assert argv == ["python", "sweeps/selu_mnist.py", "--num-samples", "4", "--storage-path", "/shared/actsweep",
                    "--name", "selu", "--address", "10.0.0.5:6379"]
    code, _, err = _dry_run(argv, capsys, monkeypatch)
    assert code == 0, err[-3000:]


def test_ray_has_the_commands_the_slurm_script_runs() -> None:
    for command in (["symmetric-run", "--help"], ["get-auth-token", "--help"]):
        completed = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *command], capture_output=True,
                                   text=True, timeout=120)
        assert completed.returncode == 0, completed.stderr[-2000:]

"""deploy/slurm-sweep.sh through `sbatch`, on a real Slurm the test starts (tests/support/slurm.py).

Debian's slurm-wlm and munge, a private configuration, state folder, network, host name and PID
namespace; one node with 16 CPUs and 2 logical GPUs declared. The job is the recipe as a user
submits it, with a small sweep as its arguments: the head address it finds, the token it makes,
the srun line and `ray symmetric-run` all run as written. The sweep must finish with its tables
written, on the job's GPUs, with token authentication on, and nothing of the test's Slurm or Ray
may survive the job. Why one node: tests/support/slurm.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from support import REPO_ROOT
from support.slurm import NODE, NODE_ADDRESS, namespace_processes, private_slurm_unavailable, run_in_private_slurm

pytestmark = pytest.mark.slow

SWEEP = ["sweeps/antirectifier_mnist.py", "--smoke", "--scheduler", "fifo", "--max-epochs", "1", "--set", "units=16",
         "--gpus-per-trial", "0.5", "--verbose", "0"]


@pytest.fixture(scope="module")
def job():
    reason = private_slurm_unavailable()
    if reason:
        pytest.skip(f"the Slurm recipe test needs a private Slurm: {reason}")
    work = Path(tempfile.mkdtemp(prefix="sl", dir="/tmp"))  # short: Ray's socket paths live under it
    (work / "home").mkdir()
    env = {**os.environ, "HOME": str(work / "home"), "STORAGE_PATH": str(work / "results"), "EXPERIMENT": "slurm",
           "RAY_TMPDIR": str(work / "ray"), "RAY_USAGE_STATS_ENABLED": "0",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # the interpreter and `ray` of this test
    for variable in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "SLURM_CONF"):
        env.pop(variable, None)
    (work / "ray").mkdir()
    submit = shlex.join(["sbatch", "--wait", "--nodes=1", f"--output={work}/job.out", "deploy/slurm-sweep.sh", *SWEEP])
    script = f'{submit}; echo "sbatch exit $?"; squeue -h -o "%i %T"; echo "squeue done"'
    try:
        completed = run_in_private_slurm(work, script, env, cwd=REPO_ROOT, timeout=900)
        job_out = (work / "job.out").read_text(errors="replace") if (work / "job.out").exists() else "(no job.out)"
        yield work, completed.returncode, completed.stdout, job_out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_job_runs_the_sweep_on_the_jobs_cpus_and_gpus_and_writes_its_tables(job):
    from analysis.store.export import read_tables

    work, code, output, job_out = job
    print(job_out)  # shown by pytest on a failure
    assert code == 0 and "sbatch exit 0" in output, output[-3000:] + job_out[-6000:]
    assert f"actsweep: Ray head at {NODE_ADDRESS}:6379 ({NODE}), 1 node(s)" in job_out, job_out[-3000:]
    assert "On head node. Starting Ray cluster head..." in job_out
    assert "shipping the project's code with the sweep" in job_out
    tables = read_tables(work / "results" / "slurm")
    assert len(tables.trials) == 2 and (tables.trials["status"] == "terminated").all()
    assert (tables.trials["gpus_per_trial"] == 0.5).all()  # --num-gpus from SLURM_GPUS_PER_TASK reached Ray
    assert set(tables.trials["gpu_ids"]) <= {"0", "1"}, list(tables.trials["gpu_ids"])


def test_the_token_is_made_once_readable_by_its_owner_only_and_the_cluster_required_it(job):
    work, _, _, job_out = job
    token = work / "home" / ".ray" / "auth_token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert len(token.read_text().strip()) == 64
    assert f"token in {token}" in job_out
    assert "does not require Ray's token authentication" not in job_out  # the sweep found auth on


def test_nothing_of_the_tests_slurm_or_ray_survives_the_job(job):
    work, _, output, _ = job
    assert output.split("sbatch exit 0\n", 1)[1] == "squeue done\n", output[-2000:]  # no job left in the queue
    assert namespace_processes(work) == []  # daemons, srun, raylets, workers: the namespace ended with them

#!/usr/bin/env bash
# A sweep on a Slurm allocation: `ray symmetric-run` (Ray >= 2.52; measured on 2.60) starts Ray on
# every node of the job, runs the sweep on the first node (the head) against that cluster, and
# stops Ray when the sweep ends. Submit from the repository root:
#
#     sbatch deploy/slurm-sweep.sh                                     # the default sweep below
#     STORAGE_PATH=/shared/actsweep EXPERIMENT=my-sweep sbatch deploy/slurm-sweep.sh
#     sbatch deploy/slurm-sweep.sh sweeps/selu_mnist.py --num-samples 20   # another sweep script and flags
#
# Every node needs Python with the project's dependencies and Ray (`pip install -e .` on a shared
# home, or the same environment module). The project's own code needs no copy on the other nodes:
# the sweep ships trainables/, sweeps/ and analysis/ to them with every run (Ray's py_modules).
#
# Storage: the nodes share no experiment folder unless you give them one, so --storage-path is
# object storage (s3://..., gs://...) or a shared file system every node mounts at the same path
# (/shared/actsweep); a node-local path such as the default ~/ray_results loses the trials of the
# other nodes (the sweep refuses it before any trial). Credentials come from the environment sbatch
# passes on (export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY before sbatch), ~/.aws on a shared
# home, or GOOGLE_APPLICATION_CREDENTIALS naming a file every node reads: never from this file or
# the URI (the sweep refuses a URI with keys). Temporary keys must outlast the job (--time below).
# An S3-compatible server (MinIO, Ceph): export AWS_ENDPOINT_URL=http://minio.example:9000 too.
#
# Token authentication. Ray 2.60 turns it on for a `ray start` only where told: a head with
# RAY_AUTH_MODE unset enables it only if a token already exists (else it starts without auth and
# warns), and a node joining with `ray start --address` never enables it by itself, so a head
# with auth and workers without it cannot even form a cluster. So this script sets
# RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH for every node (srun passes the environment on), and
# makes the token once, before any node starts, readable by you alone (mode 0600):
# $HOME/.ray/auth_token, on the shared home every node reads. Without a shared home, point
# RAY_AUTH_TOKEN_PATH at a file on a shared file system before sbatch. `ray get-auth-token`
# prints the token (for the dashboard); the sweep itself says in one line if it ever joins a
# cluster without auth.
#
# The dashboard stays on 127.0.0.1 of the head node (no --dashboard-host is passed): from your
# machine, `ssh -L 8265:127.0.0.1:8265 <head node>` and open http://127.0.0.1:8265 with the token.
#
# --exclusive: `ray symmetric-run` refuses to start on a node where any Ray already runs, and ends
# with a plain `ray stop`, which stops every Ray instance on the node, another job's included.
#
# A killed job: submit again with the same EXPERIMENT and `--resume` added to the sweep's flags.
#
#SBATCH --job-name=actsweep
#SBATCH --nodes=2
#SBATCH --exclusive
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --gpus-per-task=2
#SBATCH --time=24:00:00
#SBATCH --output=actsweep-%j.out

set -euo pipefail

# The head's address as the other nodes reach it: this node's source address on its route out,
# the rule Ray itself uses for a node's IP (`hostname --ip-address` gives 127.0.1.1 or an IPv6
# address on many systems). The batch script runs on the first node of the job, the head.
# Set RAY_HEAD_IP to use another interface (e.g. InfiniBand's), RAY_PORT for another port.
head_ip=${RAY_HEAD_IP:-$(python -c 'import socket
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.connect(("8.8.8.8", 80))  # UDP: nothing is sent, the kernel only picks the route
print(probe.getsockname()[0])')}
RAY_HEAD_ADDRESS="$head_ip:${RAY_PORT:-6379}"

# >>> sweep: what runs and where its experiments live (tests/deploy/test_recipes.py dry-runs it)
STORAGE_PATH=${STORAGE_PATH:-s3://BUCKET/actsweep}
EXPERIMENT=${EXPERIMENT:-aprelu-slurm-${SLURM_JOB_ID:-manual}}
if [ "$#" -eq 0 ]; then
    set -- sweeps/aprelu_cifar.py --num-samples 50 --gpus-per-trial 0.5
fi
SWEEP=(python "$@" --storage-path "$STORAGE_PATH" --name "$EXPERIMENT" --address "$RAY_HEAD_ADDRESS")
# <<< sweep

# >>> token: one token for every node, made once, mode 0600 (tests/deploy/test_recipes.py runs it)
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH=${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}
if [ ! -s "$RAY_AUTH_TOKEN_PATH" ]; then
    (umask 077 && mkdir -p "$(dirname "$RAY_AUTH_TOKEN_PATH")" &&
     python -c 'import secrets; print(secrets.token_hex(32))' > "$RAY_AUTH_TOKEN_PATH")
fi
chmod 600 "$RAY_AUTH_TOKEN_PATH"  # also a token `ray get-auth-token --generate` left readable by all
# <<< token

echo "actsweep: Ray head at $RAY_HEAD_ADDRESS ($(hostname)), $SLURM_JOB_NUM_NODES node(s), token in $RAY_AUTH_TOKEN_PATH"

# Nodes wait for the head (and the head for the nodes) up to this long; Ray's default is 30 s.
export RAY_SYMMETRIC_RUN_CLUSTER_WAIT_TIMEOUT=${RAY_SYMMETRIC_RUN_CLUSTER_WAIT_TIMEOUT:-300}

# One task per node, given the job's CPUs (since Slurm 22.05 srun no longer reads them from
# SLURM_CPUS_PER_TASK) and, where the job asked for GPUs per task, those GPUs; srun passes this
# environment (credentials, endpoint, token mode and path) to each node.
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --cpus-per-task="$SLURM_CPUS_PER_TASK" \
    ${SLURM_GPUS_PER_TASK:+--gpus-per-task="$SLURM_GPUS_PER_TASK"} \
    ray symmetric-run --address "$RAY_HEAD_ADDRESS" --min-nodes "$SLURM_JOB_NUM_NODES" \
    --num-cpus "$SLURM_CPUS_PER_TASK" ${SLURM_GPUS_PER_TASK:+--num-gpus "$SLURM_GPUS_PER_TASK"} \
    -- "${SWEEP[@]}"

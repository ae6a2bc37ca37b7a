#!/usr/bin/env bash
# A sweep on a Slurm allocation: `ray symmetric-run` (Ray 2.60) starts Ray on every node of the
# job, runs the sweep on the first node (the head) against that cluster, and stops Ray when the
# sweep ends. Submit from the repository root, with the project installed on every node:
#
#     sbatch deploy/slurm-sweep.sh
#     STORAGE_PATH=/shared/actsweep EXPERIMENT=my-sweep sbatch deploy/slurm-sweep.sh
#
# Storage: the nodes share no experiment folder unless you give them one, so --storage-path is
# object storage (s3://..., gs://...) or a shared file system every node mounts at the same path
# (/shared/actsweep); a node-local path such as the default ~/ray_results loses the trials of the
# other nodes. Credentials come from the environment sbatch passes on (export AWS_ACCESS_KEY_ID
# and AWS_SECRET_ACCESS_KEY before sbatch) or from ~/.aws/credentials on a shared home: never
# from this file or the URI (the sweep refuses a URI with keys). An S3-compatible server (MinIO):
# export AWS_ENDPOINT_URL=http://minio.example:9000 as well.
#
# Token authentication: Ray enables it on the clusters it starts. Every node must hold the same
# token, so this script makes one (~/.ray/auth_token, `ray get-auth-token` prints it) before any
# node starts and sets RAY_AUTH_MODE=token everywhere; with a home that is not shared, point
# RAY_AUTH_TOKEN_PATH at a file (mode 0600) on a shared file system instead.
#
# The dashboard stays on 127.0.0.1 of the head node (no --dashboard-host is passed): from your
# machine, `ssh -L 8265:127.0.0.1:8265 <head node>` and open http://127.0.0.1:8265 with the token.
#
# A killed job: submit again with the same EXPERIMENT and `--resume` added to SWEEP below.
#
#SBATCH --job-name=actsweep
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --gpus-per-task=2
#SBATCH --time=24:00:00
#SBATCH --output=actsweep-%j.out

set -euo pipefail

# The head's address: the first node of the allocation, as the other nodes reach it.
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
head_ip=$(srun --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address | awk '{print $1}')
RAY_HEAD_ADDRESS="$head_ip:6379"

# >>> sweep: what runs and where its experiments live (tests/deploy/test_recipes.py dry-runs it)
STORAGE_PATH=${STORAGE_PATH:-s3://BUCKET/actsweep}
EXPERIMENT=${EXPERIMENT:-aprelu-slurm-${SLURM_JOB_ID:-manual}}
SWEEP=(python sweeps/aprelu_cifar.py --num-samples 50 --gpus-per-trial 0.5
       --storage-path "$STORAGE_PATH" --name "$EXPERIMENT" --address "$RAY_HEAD_ADDRESS")
# <<< sweep

export RAY_AUTH_MODE=token
ray get-auth-token --generate >/dev/null  # creates ~/.ray/auth_token once; keeps an existing one

# One task per node; srun passes this environment (credentials, endpoint, token mode) to each.
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 \
    ray symmetric-run --address "$RAY_HEAD_ADDRESS" --min-nodes "$SLURM_JOB_NUM_NODES" \
    --num-cpus "$SLURM_CPUS_PER_TASK" -- "${SWEEP[@]}"

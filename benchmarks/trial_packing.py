"""How many record-1 trials one GPU should run at once: aggregate images/s of 1, 2, 4, 8.

    KERAS_BACKEND=jax python benchmarks/trial_packing.py --processes 1 2 4 8
    python benchmarks/trial_packing.py --processes 1 2 --steps 20 --batch-size 32   # CPU dry run

Each level starts N independent training processes (as N Tune trials sharing a GPU would
be), each training the record-1 APReLU network on in-memory CIFAR-sized data with its GPU
memory set up as a trial holding 1/N of the GPU sets it (`trainables.devices.configure_gpus`:
JAX, XLA_PYTHON_CLIENT_MEM_FRACTION of 0.9/N; TensorFlow, memory growth). A process times its steps after a warm-up; the aggregate is
the sum of the processes' images/s. Ends with one JSON line {"ratio": aggregate images/s
with 4 processes / with 1, ...}; the goal is >= 3.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time


def worker(share: float, steps: int, warmup: int, batch_size: int, start, results) -> None:
    from trainables.devices import configure_gpus

    configure_gpus(share=share)  # what a Tune trial holding `share` of the GPU sets up (JAX: a 0.9 x share cap)
    import keras
    import numpy as np

    from trainables.models import build_preset

    keras.utils.set_random_seed(0)
    model = build_preset("aprelu_record1")
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True if keras.backend.backend() == "jax" else "auto",
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size * max(steps, warmup), 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=len(x)).astype("int32")
    # `fit`, as a trial trains (on JAX `train_on_batch` writes every variable back after each step).
    model.fit(x[: warmup * batch_size], y[: warmup * batch_size], batch_size=batch_size, verbose=0)
    start.wait()  # all processes time the same stretch
    began = time.perf_counter()
    model.fit(x[: steps * batch_size], y[: steps * batch_size], batch_size=batch_size, shuffle=False, verbose=0)
    results.put(steps * batch_size / (time.perf_counter() - began))


def aggregate(processes: int, args: argparse.Namespace) -> float:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=worker, args=(1.0 / processes, args.steps, args.warmup, args.batch_size, start, results))
        for _ in range(processes)
    ]
    for process in workers:
        process.start()
    speeds = [results.get(timeout=args.timeout) for _ in workers]
    for process in workers:
        process.join()
    return sum(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    figures = {}
    for processes in args.processes:
        figures[processes] = aggregate(processes, args)
        print(f"{processes} process(es): {figures[processes]:9.0f} images/s aggregate "
              f"({figures[processes] / figures[args.processes[0]]:.2f}x of {args.processes[0]})", flush=True)
    base = figures.get(1) or figures[args.processes[0]]
    print(json.dumps({
        "ratio": round(figures[4] / base, 3) if 4 in figures else None,
        "images_per_s": {str(n): round(v, 1) for n, v in figures.items()},
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "batch_size": args.batch_size,
    }))


if __name__ == "__main__":
    main()

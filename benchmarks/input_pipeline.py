"""Images per second of the project's augmentation against Keras 2's ImageDataGenerator.

Same transforms as APReLU tuning record 16 (rotation 30, zoom 0.2, shear 30,
horizontal flip, width/height shift 0.125), 32x32x3 float32 images, the same
number of images for every contender, batch 100 as the seed.

``--on pipeline`` (default; TensorFlow backend) times the CPU input pipelines:

- project: ``trainables.data.pipeline.train_dataset`` with ``build_augmentation``
  (one fused affine resampling per batch, parallel batch map, prefetch);
- stock_layers: tf.data mapping the five stock Keras 3 layers over batches
  (RandomRotation, RandomTranslation, RandomZoom, RandomShear, RandomFlip);
- image_data_generator: ``tf_keras.preprocessing.image.ImageDataGenerator.flow``
  (needs the ``tf-keras`` package, in the ``bench`` extra);
- scipy_per_image: ImageDataGenerator's algorithm without TensorFlow (one composed
  matrix per image, ``scipy.ndimage.affine_transform`` per channel, bilinear,
  nearest fill, then the flip), timed here beside the real one to show it is an
  equivalent baseline.

``--on device`` (any backend; ``augment_on=model``) times the fused layer on the
accelerator, batches already in device memory, one compiled call per batch (jax.jit,
or tf.function), against ImageDataGenerator, or against ``scipy_per_image`` where
TensorFlow is not installed (the GPU machines this project borrows run Keras on JAX).

Each contender is run once untimed (tracing, thread pools) and then timed over
``--repeats`` passes; the best pass counts. The last line is one JSON object with
"ratio" = project images/s / baseline images/s.

    python benchmarks/input_pipeline.py --images 10000
    KERAS_BACKEND=jax python benchmarks/input_pipeline.py --on device --images 50000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without install

import keras  # noqa: E402
import numpy as np  # noqa: E402

from trainables.data.augment import AUGMENT_PRESETS, RANDOM_VALUES_PER_IMAGE, build_augmentation  # noqa: E402

RECORD16 = AUGMENT_PRESETS["aprelu_record16"]


def best_images_per_second(make_iterator, images: int, repeats: int) -> float:
    """Best of ``repeats`` timed passes, after one untimed warm-up pass."""
    for _ in make_iterator():
        pass
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in make_iterator():
            pass
        best = min(best, time.perf_counter() - start)
    return images / best


def project(x, y, batch_size):
    from trainables.data.pipeline import train_dataset

    augmentation = build_augmentation(RECORD16, seed=0)
    dataset = train_dataset(x, y, batch_size=batch_size, augmentation=augmentation, seed=0)
    return lambda: iter(dataset)


def stock_layers(x, y, batch_size):
    import tensorflow as tf
    from keras import layers

    augmentation = keras.Sequential(
        [
            layers.RandomRotation(RECORD16.rotation / 360.0, fill_mode="nearest", seed=0),
            layers.RandomTranslation(RECORD16.height_shift, RECORD16.width_shift, fill_mode="nearest", seed=0),
            layers.RandomZoom((-RECORD16.zoom, RECORD16.zoom), (-RECORD16.zoom, RECORD16.zoom), fill_mode="nearest", seed=0),
            layers.RandomShear(x_factor=float(np.sin(np.radians(RECORD16.shear))), y_factor=0.0, fill_mode="nearest", seed=0),
            layers.RandomFlip("horizontal", seed=0),
        ]
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=0)
        .batch(batch_size)
        .map(lambda images, labels: (augmentation(images, training=True), labels), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    return lambda: iter(dataset)


def image_data_generator(x, y, batch_size):
    from tf_keras.preprocessing.image import ImageDataGenerator

    generator = ImageDataGenerator(
        rotation_range=RECORD16.rotation,
        zoom_range=RECORD16.zoom,
        shear_range=RECORD16.shear,
        horizontal_flip=RECORD16.horizontal_flip,
        width_shift_range=RECORD16.width_shift,
        height_shift_range=RECORD16.height_shift,
    )
    batches = -(-len(x) // batch_size)

    def one_pass():
        flow = generator.flow(x, y, batch_size=batch_size, shuffle=True, seed=0)
        return (flow[index] for index in range(batches))

    return one_pass


def _affine_matrix(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """ImageDataGenerator's draw for one image: rotation @ shift @ shear @ zoom, about the center.

    Row/column coordinates, output-to-input, as scipy.ndimage.affine_transform expects.
    """
    theta = math.radians(rng.uniform(-RECORD16.rotation, RECORD16.rotation))
    shift_rows = rng.uniform(-RECORD16.height_shift, RECORD16.height_shift) * height
    shift_cols = rng.uniform(-RECORD16.width_shift, RECORD16.width_shift) * width
    shear = math.radians(rng.uniform(-RECORD16.shear, RECORD16.shear))
    zoom_rows, zoom_cols = rng.uniform(1 - RECORD16.zoom, 1 + RECORD16.zoom, 2)
    rotation = np.array([[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]])
    shift = np.array([[1, 0, shift_rows], [0, 1, shift_cols], [0, 0, 1]])
    shear_matrix = np.array([[1, -math.sin(shear), 0], [0, math.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zoom_rows, 0, 0], [0, zoom_cols, 0], [0, 0, 1]])
    center_rows, center_cols = height / 2 - 0.5, width / 2 - 0.5
    to_center = np.array([[1, 0, center_rows], [0, 1, center_cols], [0, 0, 1]])
    from_center = np.array([[1, 0, -center_rows], [0, 1, -center_cols], [0, 0, 1]])
    return to_center @ rotation @ shift @ shear_matrix @ zoom @ from_center


def scipy_per_image(x, y, batch_size):
    from scipy import ndimage

    height, width = x.shape[1:3]

    def one_pass():
        rng = np.random.default_rng(0)
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            batch = np.empty_like(x[index])
            for row, image in enumerate(x[index]):
                matrix = _affine_matrix(rng, height, width)
                for channel in range(image.shape[-1]):
                    batch[row, :, :, channel] = ndimage.affine_transform(
                        image[:, :, channel], matrix[:2, :2], matrix[:2, 2], order=1, mode="nearest"
                    )
                if rng.random() < 0.5:
                    batch[row] = batch[row, :, ::-1]
            yield batch, y[index]

    return one_pass


def on_device(x, y, batch_size):
    """The fused layer as augment_on=model runs it: device-resident batches, one compiled call each."""
    layer = build_augmentation(RECORD16, seed=0).layers[0]
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        transform = jax.jit(layer.transform)
        synchronize = jax.block_until_ready
    elif backend == "tensorflow":
        import tensorflow as tf

        transform = tf.function(layer.transform)  # ImageProjectiveTransformV3 has no XLA kernel
        synchronize = keras.ops.convert_to_numpy
    else:
        transform, synchronize = layer.transform, keras.ops.convert_to_numpy
    rng = np.random.default_rng(0)
    batches = [
        (
            keras.ops.convert_to_tensor(x[start : start + batch_size]),
            keras.ops.convert_to_tensor(rng.random((len(x[start : start + batch_size]), RANDOM_VALUES_PER_IMAGE), dtype=np.float32)),
        )
        for start in range(0, len(x), batch_size)
    ]

    def one_pass():
        outputs = [transform(images, uniforms) for images, uniforms in batches]
        synchronize(outputs[-1] if backend != "jax" else outputs)
        return iter(())

    return one_pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--on", choices=("pipeline", "device"), default="pipeline",
                        help="where the project's augmentation runs: tf.data on the CPU, or on the accelerator")
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-stock", action="store_true", help="skip the stock Keras layers contender")
    parser.add_argument("--baseline", choices=("image_data_generator", "scipy_per_image"), default=None,
                        help="--on device baseline (default: image_data_generator where tf-keras is installed)")
    args = parser.parse_args()
    if args.images < 1 or args.batch_size < 1 or args.repeats < 1:
        parser.error("--images, --batch-size and --repeats must be >= 1")
    have_idg = importlib.util.find_spec("tf_keras") is not None
    if args.on == "pipeline":
        if keras.backend.backend() != "tensorflow" or not have_idg:
            parser.error("--on pipeline needs the TensorFlow backend and tf-keras (pip install -e '.[bench]')")
        baseline = "image_data_generator"
        contenders = {"project": project, baseline: image_data_generator, "scipy_per_image": scipy_per_image}
        if not args.skip_stock:
            contenders["stock_layers"] = stock_layers
    else:
        baseline = args.baseline or ("image_data_generator" if have_idg else "scipy_per_image")
        if baseline == "image_data_generator" and not have_idg:
            parser.error("the image_data_generator baseline needs tf-keras (pip install -e '.[bench]')")
        contenders = {"project": on_device, baseline: globals()[baseline]}

    rng = np.random.default_rng(0)
    x = rng.random((args.images, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, args.images).astype(np.int32)
    results = {}
    for name, make in contenders.items():
        results[name] = best_images_per_second(make(x, y, args.batch_size), args.images, args.repeats)
        print(f"{name:>22}: {results[name]:10.0f} images/s", flush=True)
    summary = {
        "ratio": results["project"] / results[baseline],
        "on": args.on,
        "baseline": baseline,
        "backend": keras.backend.backend(),
        "device": _device_name(),
        "images_per_second": results,
        "images": args.images,
        "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(),
    }
    for name in results:
        if name not in ("project", baseline):
            summary[f"{name}_ratio"] = results[name] / results[baseline]
    print(json.dumps(summary))


def _device_name() -> str:
    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0])
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "unknown"


if __name__ == "__main__":
    main()

"""Images per second of the project's augmentation pipeline against Keras 2's ImageDataGenerator.

Same transforms as APReLU tuning record 16 (rotation 30, zoom 0.2, shear 30,
horizontal flip, width/height shift 0.125), 32x32x3 float32 images, the same
number of images for every contender, batch 100 as the seed. Contenders:

- project: ``trainables.data.pipeline.train_dataset`` with ``build_augmentation``
  (one fused affine resampling per batch, parallel batch map, prefetch);
- stock_layers: tf.data mapping the four stock Keras 3 layers over batches
  (RandomRotation, RandomTranslation, RandomZoom, RandomShear, RandomFlip);
- image_data_generator: ``tf_keras.preprocessing.image.ImageDataGenerator.flow``
  (needs the ``tf-keras`` package, in the ``bench`` extra).

Each contender is run once untimed (tracing, thread pools) and then timed over
``--repeats`` passes; the best pass counts. The last line is one JSON object.

    python benchmarks/input_pipeline.py --images 10000
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from trainables.data.augment import AUGMENT_PRESETS, build_augmentation  # noqa: E402
from trainables.data.pipeline import train_dataset  # noqa: E402

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
    augmentation = build_augmentation(RECORD16, seed=0)
    dataset = train_dataset(x, y, batch_size=batch_size, augmentation=augmentation, seed=0)
    return lambda: iter(dataset)


def stock_layers(x, y, batch_size):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-stock", action="store_true", help="skip the stock Keras layers contender")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.random((args.images, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, args.images).astype(np.int32)

    results = {}
    contenders = [("project", project), ("image_data_generator", image_data_generator)]
    if not args.skip_stock:
        contenders.insert(1, ("stock_layers", stock_layers))
    for name, make in contenders:
        results[name] = best_images_per_second(make(x, y, args.batch_size), args.images, args.repeats)
        print(f"{name:>22}: {results[name]:10.0f} images/s")
    summary = {
        "ratio": results["project"] / results["image_data_generator"],
        "project_images_per_second": results["project"],
        "image_data_generator_images_per_second": results["image_data_generator"],
        "images": args.images,
        "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(),
    }
    if "stock_layers" in results:
        summary["stock_layers_images_per_second"] = results["stock_layers"]
        summary["stock_layers_ratio"] = results["stock_layers"] / results["image_data_generator"]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

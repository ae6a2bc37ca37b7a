"""tf.data input pipelines (TensorFlow only; everything else in the package is keras-only).

Shuffling works on int64 indices and each batch is gathered from one copy of the
arrays, so a 50,000-image shuffle buffer costs 400 KB instead of a second copy of
the data. Augmentation is mapped over whole batches (one fused affine resampling
per batch) in parallel, with per-batch random draws from a stateless generator:
the output is the same for the same seed however the parallel map is scheduled,
and differs from epoch to epoch. Given an `epoch` variable (`epoch_variable`), the order
and the draws of an epoch are a pure function of (seed, epoch): a trial resumed from a
checkpoint at epoch k sees what an uninterrupted one saw there (trainables.determinism).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from trainables.data.augment import RANDOM_VALUES_PER_IMAGE, RandomAffine

AUTOTUNE = tf.data.AUTOTUNE


def _without_autotune_model(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The pipeline with tf.data's autotuning model thread turned off.

    That thread re-tunes the pipeline after 10, 20, 40, ... ms (doubling, at most every 60 s),
    and deleting an iterator waits for it: in about a third of the epochs measured on
    TensorFlow 2.21 the wait ran to its next wake-up, so a `fit` that needed 1.3 s took 2.55 s
    (wake-ups fall at 2.55, 5.11, 10.23, 20.47, 40.95 and 81.91 s from the iterator's start,
    then every 60 s). Every epoch's `fit` and `evaluate` makes an iterator. Without the model
    the AUTOTUNE map runs at the machine's parallelism; `benchmarks/tfdata_autotune.py` times
    both the epochs and the pipeline alone.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _check_arrays(x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def epoch_variable(first_epoch: int = 0) -> tf.Variable:
    """The epoch a `train_dataset(..., epoch=...)` draws its order for; set it before each epoch."""
    return tf.Variable(first_epoch, dtype=tf.int64, trainable=False, name="pipeline_epoch")


def _epoch_key(seed: int, epoch: tf.Variable) -> tf.Tensor:
    return tf.stack([tf.constant(seed, tf.int64), tf.convert_to_tensor(epoch, tf.int64)])


def _epoch_order(count: int, seed: int, epoch: tf.Variable) -> tf.data.Dataset:
    """A permutation of range(count) drawn statelessly from (seed, epoch), read when an epoch starts."""
    def order(_: tf.Tensor) -> tf.data.Dataset:
        permutation = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64),
                                                               seed=_epoch_key(seed, epoch))
        return tf.data.Dataset.from_tensor_slices(permutation)

    # flat_map hides the length; Keras needs it to know an epoch's steps
    return tf.data.Dataset.range(1).flat_map(order).apply(tf.data.experimental.assert_cardinality(count))


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int,
             epoch: tf.Variable | None = None) -> tf.data.Dataset:
    """Batches of (images, labels), gathered from a single in-memory copy."""
    images = tf.convert_to_tensor(x)
    labels = tf.convert_to_tensor(y)
    indices = tf.data.Dataset.range(len(x))
    if shuffle and epoch is not None:
        indices = _epoch_order(len(x), seed, epoch)
    elif shuffle:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return indices.batch(batch_size).map(
        lambda index: (tf.gather(images, index), tf.gather(labels, index)),
        num_parallel_calls=AUTOTUNE,
    )


def _affine_layers(augmentation: keras.Layer) -> list[RandomAffine] | None:
    """The RandomAffine layers making up ``augmentation``, or None if it has others."""
    found = augmentation.layers if isinstance(augmentation, keras.Sequential) else [augmentation]
    return list(found) if all(isinstance(layer, RandomAffine) for layer in found) else None


def _batch_keys(seed: int, epoch: tf.Variable | None) -> tf.data.Dataset:
    """One stateless-random key per batch: from (seed, epoch, batch index) given an epoch, else
    a new sequence each iteration, the same sequences for the same seed."""
    if epoch is None:
        return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(
            lambda value: tf.stack([value, tf.constant(0, tf.int64)]))
    def keys(_: tf.Tensor) -> tf.data.Dataset:
        key = _epoch_key(seed, epoch)  # the variable is read here, once an epoch: the map stays stateless
        return tf.data.Dataset.range(2**62).map(lambda index: tf.random.experimental.stateless_fold_in(key, index))

    return tf.data.Dataset.range(1).flat_map(keys).apply(
        tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))  # so zip keeps the batches' length


def _stateless_augment(affine_layers: list[RandomAffine]):
    def augment(batch, batch_key):
        images, labels = batch
        count = tf.shape(images)[0]
        for position, layer in enumerate(affine_layers):
            seed = batch_key + tf.constant([0, position], tf.int64)
            uniforms = tf.random.stateless_uniform((count, RANDOM_VALUES_PER_IMAGE), seed=seed)
            images = layer.transform(images, uniforms)
        return images, labels

    return augment


def train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    augmentation: keras.Layer | None = None,
    seed: int = 0,
    shuffle: bool = True,
    epoch: tf.Variable | None = None,
) -> tf.data.Dataset:
    """Shuffled (by ``seed``), batched, augmented per batch in parallel, prefetched.

    ``augmentation`` is what ``build_augmentation`` returns (deterministic for a
    seed); any other Keras layer is called with training=True (random state then
    depends on the parallel map's scheduling). Without ``epoch`` each iteration draws
    the next order and transforms of the seed's sequence; with it (``epoch_variable``),
    an iteration draws those of (seed, the variable's value when it starts).
    """
    _check_arrays(x, y, batch_size)
    dataset = _batches(x, y, batch_size, shuffle, seed, epoch)
    if augmentation is not None:
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"augmentation in tf.data needs the tensorflow backend, got {keras.backend.backend()!r}; "
                "prepend the augmentation to the model instead"
            )
        affine_layers = _affine_layers(augmentation)
        if affine_layers is not None:
            dataset = tf.data.Dataset.zip(dataset, _batch_keys(seed, epoch)).map(
                _stateless_augment(affine_layers), num_parallel_calls=AUTOTUNE
            )
        else:
            dataset = dataset.map(
                lambda images, labels: (augmentation(images, training=True), labels),
                num_parallel_calls=AUTOTUNE,
            )
    return _without_autotune_model(dataset.prefetch(AUTOTUNE))


def pack_train_dataset(
    members: Sequence[tuple[np.ndarray, np.ndarray, keras.Layer | None, int]],
    *,
    batch_size: int,
    epoch: tf.Variable,
) -> tf.data.Dataset:
    """What `train_dataset(x, y, augmentation=..., seed=..., epoch=epoch)` gives each member, as one
    pipeline of tuples (one (images, labels) batch per member), for a pack (trainables.pack).

    `members` are (x, y, augmentation, seed). Each member's order, batches and transforms are its
    own (seed, epoch)'s, drawn by the same functions; only the pipeline is shared: one iterator,
    one parallel map and one prefetch instead of S (making the iterators of 8 digits pipelines
    took 73-195 ms an epoch on the 2-vCPU VM, one 9-58 ms). Arrays given twice are held once.
    """
    if not members:
        raise ValueError("pack_train_dataset needs at least one member")
    held: dict[int, tf.Tensor] = {}

    def tensor(array: np.ndarray) -> tf.Tensor:
        return held.setdefault(id(array), tf.convert_to_tensor(array))

    for x, y, _, _ in members:
        _check_arrays(x, y, batch_size)
    if len({len(x) for x, _, _, _ in members}) > 1:
        raise ValueError("pack members must train on as many images each, got " +
                         ", ".join(str(len(x)) for x, _, _, _ in members))
    sources = [(tensor(x), tensor(y)) for x, y, _, _ in members]
    transforms = []
    for _, _, augmentation, _ in members:
        if augmentation is not None and keras.backend.backend() != "tensorflow":
            raise ValueError("augmentation in tf.data needs the tensorflow backend; prepend it to the model instead")
        affine_layers = None if augmentation is None else _affine_layers(augmentation)
        transforms.append((augmentation, affine_layers))
    count, seeds = len(members[0][0]), [seed for _, _, _, seed in members]

    plain = tf.autograph.experimental.do_not_convert  # plain Python over members: nothing for autograph to convert

    @plain
    def orders(_: tf.Tensor) -> tf.data.Dataset:  # every member's `_epoch_order`, read when an epoch starts
        permutations = [tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64),
                                                                 seed=_epoch_key(seed, epoch)) for seed in seeds]
        return tf.data.Dataset.from_tensor_slices(tf.stack(permutations, axis=1))

    @plain
    def keys(_: tf.Tensor) -> tf.data.Dataset:  # every member's `_batch_keys`
        epoch_keys = [_epoch_key(seed, epoch) for seed in seeds]
        return tf.data.Dataset.range(2**62).map(
            plain(lambda index: tf.stack([tf.random.experimental.stateless_fold_in(key, index) for key in epoch_keys])))

    indices = tf.data.Dataset.range(1).flat_map(orders).apply(tf.data.experimental.assert_cardinality(count))
    batch_keys = tf.data.Dataset.range(1).flat_map(keys).apply(
        tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))

    @plain
    def gather(indices, batch_keys):
        batches = []
        for position, ((images, labels), (augmentation, affine_layers)) in enumerate(zip(sources, transforms)):
            index = indices[:, position]
            batch = (tf.gather(images, index), tf.gather(labels, index))
            if affine_layers is not None:
                batch = _stateless_augment(affine_layers)(batch, batch_keys[position])
            elif augmentation is not None:
                batch = (augmentation(batch[0], training=True), batch[1])
            batches.append(batch)
        return tuple(batches)

    dataset = tf.data.Dataset.zip(indices.batch(batch_size), batch_keys).map(gather, num_parallel_calls=AUTOTUNE)
    return _without_autotune_model(dataset.prefetch(AUTOTUNE))


def eval_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int) -> tf.data.Dataset:
    """Batches in order, no augmentation, prefetched."""
    _check_arrays(x, y, batch_size)
    return _without_autotune_model(_batches(x, y, batch_size, shuffle=False, seed=0).prefetch(AUTOTUNE))

"""The search space, in one home: how it is spelled, built, typed and checked.

- `keys`: reading a Tune search space (grids, sampled and derived keys, the values a key takes).
- `overrides`: `--set KEY=VALUE` converted to the type its key declares.
- `build`: the space of one sweep from its declaration and the command line.
- `checks`: every config the space can produce, checked with the trainable's own parser.
"""

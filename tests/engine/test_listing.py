"""`python -m sweeps`: the listing is read from the registries, so every name in them is in it."""

from __future__ import annotations

import json
import subprocess
import sys

from support import REPO_ROOT


def test_the_listing_holds_every_registered_name():
    from sweeps import families
    from trainables.activations import available_activations
    from trainables.data import available_datasets
    from trainables.models import available_models

    result = subprocess.run([sys.executable, "-m", "sweeps", "--json"], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cudart_stub" not in result.stderr, "TensorFlow's start-up notices stay off the console"
    listing = json.loads(result.stdout)
    names = {section: [row["name"] for row in rows] for section, rows in listing.items()}
    assert names["families"] == sorted(families())
    assert sorted(names["activations"]) == sorted(available_activations())
    assert names["models"] == list(available_models())
    assert sorted(names["datasets"]) == sorted(available_datasets())
    aprelu = next(row for row in listing["activations"] if row["name"] == "aprelu")
    assert aprelu["settings"]["reduction"] == "int = 4"
    cifar = next(row for row in listing["families"] if row["name"] == "aprelu_cifar")
    assert cifar["records"] == [1, 16] and cifar["script"] == "sweeps/aprelu_cifar.py"


def test_one_section_as_text_and_a_bad_section_is_one_line(capsys):
    import pytest

    from sweeps.engine.listing import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("models (") and "aprelu_resnet" in out and "families" not in out
    with pytest.raises(SystemExit) as exit_info:
        main(["bogus"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1

"""sweeps.engine.admission: an --address that answers, asked before Keras and Ray Tune are imported.

The token refusals against a real cluster are tests/engine/test_cluster.py's
(test_a_token_cluster_admits_a_sweep_with_its_token_and_refuses_clients_without_it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO_ROOT
from support.cluster import free_ports

from sweeps.engine.admission import check_address, check_admission
from sweeps.engine.errors import UsageError


def test_an_address_without_a_cluster_fails_at_once():
    (port,) = free_ports(1)
    with pytest.raises(UsageError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        check_address(f"127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(UsageError, match="is not HOST:PORT"):
        check_address("nowhere")


def test_addresses_that_cannot_be_asked_beforehand_are_left_to_ray():
    assert check_admission("auto") is None and check_admission("ray://10.0.0.5:10001") is None


def test_a_sweep_given_an_address_where_nothing_answers_says_so_before_importing_keras():
    """The sweep's own `main`, as its script runs it: one line, exit 2, and neither Keras nor Ray Tune
    imported (a refused driver answers in about a second, not after the ~6 s of those imports)."""
    (port,) = free_ports(1)
    code = ("import sys\n"
            "from sweeps.antirectifier_mnist import SWEEP\n"
            "from sweeps.engine import main\n"
            f"status = main(SWEEP, ['--smoke', '--address', '127.0.0.1:{port}'])\n"
            "print(status, 'keras' in sys.modules, 'ray.tune' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.stdout.split() == ["2", "False", "False"], result.stdout + result.stderr[-2000:]
    line = f"error: no Ray cluster answers at 127.0.0.1:{port} (Connection refused); start one with `ray start --head`"
    assert result.stderr.splitlines() == [line]

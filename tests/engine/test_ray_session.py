"""sweeps.engine.ray_session (worker priority): a local instance's trial workers at the driver's priority unless
--polite; a cluster's left alone. The workers' real niceness is checked in test_faults.py."""

from __future__ import annotations

from sweeps.engine.ray_session import WORKER_NICENESS_VARIABLE, worker_environment


def test_only_a_local_instance_that_is_not_polite_changes_rays_worker_niceness() -> None:
    assert worker_environment(local=True, polite=False) == {WORKER_NICENESS_VARIABLE: "0"}
    assert worker_environment(local=True, polite=True) == {}
    assert worker_environment(local=False, polite=False) == {}


def test_polite_with_a_cluster_address_is_one_line_exit_2(tmp_path, capsys) -> None:
    from sweeps import antirectifier_mnist
    from sweeps.engine.runner import main

    code = main(antirectifier_mnist.SWEEP, ["--smoke", "--polite", "--address", "127.0.0.1:6379",
                                            "--storage-path", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --polite sets the priority of a local instance's workers") and "\n" not in err
    assert not any(tmp_path.iterdir())

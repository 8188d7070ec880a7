"""Progress bars: dask's on the local schedulers, the scheduler plugin's on a cluster, none when off."""

from __future__ import annotations

import io

import dask
import dask.array as da
import pytest

from mapds.cli.progress import active_client, progress


def _work():
    return da.ones((64, 64), chunks=8).sum().compute()


def test_local_progress_bar_draws_to_its_stream():
    stream = io.StringIO()
    with dask.config.set(scheduler="threads"), progress(True, stream, minimum=0):
        assert _work() == 64 * 64
    text = stream.getvalue()
    assert "100%" in text and "[####" in text


def test_no_bar_when_disabled(capfd):
    with progress(False):
        _work()
    captured = capfd.readouterr()
    assert captured.out == captured.err == ""


def test_cluster_progress_bar_counts_the_tasks():
    distributed = pytest.importorskip("distributed")
    stream = io.StringIO()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        with distributed.Client(cluster):
            assert active_client() is not None
            with progress(True, stream):
                assert _work() == 64 * 64
    assert active_client() is None
    last = stream.getvalue().rstrip("\n").split("\r")[-1]
    assert last.startswith("[" + "#" * 40 + "] 100%"), last
    done, total = last.split("%")[1].split("tasks")[0].strip().split("/")
    assert int(done) == int(total) > 64  # 64 chunks, then the reduction tree

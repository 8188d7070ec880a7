"""Writes killed between any two steps, and writers racing for one target: the target is always
the old version or the new one, whole (or a state the next open or write repairs, with a log
message), never neither and never a mix; what killed writers leave is removed by the next write.

Writers run in forked processes (no interpreter start-up, no re-import) whose step hook
(``mapds.io.atomic._checkpoint``) sends SIGKILL to the process at one step, or holds it at a
barrier until its rival reaches the same step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import queue
import signal
import time

import dask
import fsspec
import numpy as np
import pytest

from mapds.datasets import MapDataset
from mapds.datasets.core import stack_to_zarr
from mapds.errors import CorruptFileError, StaleFileError
from mapds.io import atomic
from mapds.io.atomic import CLAIM_KEY, COMMIT_KEY, atomic_directory
from mapds.io.urls import resolve
from mapds.maps import Map

from .conftest import make_cube

HAS_FORK = "fork" in multiprocessing.get_all_start_methods()
pytestmark = pytest.mark.skipif(not HAS_FORK, reason="writers are forked processes")
TEMP = ".mapds-tmp-"


def _writer(index, action, kill_at, wait_at, barrier, results, no_swap, stagger):
    reached: list[str] = []

    def checkpoint(step, target):
        reached.append(target.name)
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if step == wait_at or (isinstance(wait_at, set) and step in wait_at):
            barrier.wait(timeout=60)
            time.sleep(index * stagger)

    atomic._checkpoint = checkpoint
    if no_swap:
        atomic._renameat2 = None  # as on a platform without an atomic swap
    try:
        # No thread pool: a forked process has none of its parent's threads.
        with dask.config.set(scheduler="synchronous"):
            value = action()
    except Exception as exc:
        results.put((os.getpid(), type(exc).__name__, str(exc), reached, None))
    else:
        results.put((os.getpid(), None, "", reached, value))


def run_writers(*actions, kill_at=None, wait_at=None, no_swap=False, stagger=0.0) -> list[tuple]:
    """Run each action in a forked process.

    ``kill_at``: the step at which each process kills itself; ``wait_at``: step(s) at which the
    processes wait for each other, then go on ``stagger`` seconds apart (the i-th after i times
    ``stagger``); ``no_swap``: as on a platform without an atomic swap of directories.

    Returns, per action, ``(error class name or None, message, names of the targets it reached
    checkpoints for, what it returned)``; ``("killed", "", [], None)`` for a process killed at
    ``kill_at``.
    """
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(len(actions)) if wait_at else None
    results = fork.Queue()
    args = (kill_at, wait_at, barrier, results, no_swap, stagger)
    processes = [fork.Process(target=_writer, args=(i, action, *args)) for i, action in enumerate(actions)]
    for process in processes:
        process.start()
    deadline = time.monotonic() + 120
    reports = {}
    # Reports are read while the writers run: a writer exits only once its report (a pickled
    # dataset can be larger than a pipe's buffer) has been read.
    while any(p.is_alive() for p in processes) or not results.empty():
        if time.monotonic() > deadline:
            for process in processes:
                process.kill()
            pytest.fail("a writer hung")
        with contextlib.suppress(queue.Empty):
            pid, *report = results.get(timeout=0.1)
            reports[pid] = tuple(report)
    for process in processes:
        process.join()
        assert process.exitcode in (0, -signal.SIGKILL), process.exitcode
        assert (process.exitcode == 0) == (process.pid in reports)
    return [reports.get(p.pid, ("killed", "", [], None)) for p in processes]


def _temporaries(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if TEMP in name)


def _values(url, **kwargs) -> np.ndarray:
    return Map.read(url, **kwargs).data.compute()


# -- local stores and files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step, no_swap, survivor",
    [
        ("dir:written", False, "old"),  # new store complete beside the target, not yet swapped in
        ("dir:swapped", False, "new"),  # swapped in one step; the old store not yet deleted
        ("dir:moved-aside", True, "old"),  # no atomic swap: between the two renames
    ],
)
def test_killed_local_zarr_overwrite(tmp_path, caplog, step, no_swap, survivor):
    old = make_cube(chunks={"y": 20, "x": 30})
    target = tmp_path / "cube.zarr"
    old.write(target, hdu="counts")
    [report] = run_writers(
        lambda: (old * 2).write(target, hdu="counts", overwrite=True), kill_at=step, no_swap=no_swap
    )
    assert report[0] == "killed"
    assert _temporaries(tmp_path)  # the killed writer's leftovers
    if step == "dir:moved-aside":
        assert not target.exists()  # neither store under the name: the next open repairs it
    with caplog.at_level(logging.WARNING, logger="mapds.io.atomic"):
        values = _values(target)
    expected = old.data.compute() * (2 if survivor == "new" else 1)
    np.testing.assert_array_equal(values, expected)
    assert ("restored it from" in caplog.text) == (step == "dir:moved-aside")
    # The next write removes what the killed writer left.
    (old * 3).write(target, hdu="counts", overwrite=True)
    assert os.listdir(tmp_path) == ["cube.zarr"]
    np.testing.assert_array_equal(_values(target), 3 * old.data.compute())


def test_killed_local_fits_overwrite(tmp_path, cube):
    target = tmp_path / "cube.fits"
    cube.write(target, hdu="COUNTS")
    [report] = run_writers(
        lambda: (cube * 2).write(target, hdu="COUNTS", overwrite=True), kill_at="file:written"
    )
    assert report[0] == "killed" and len(_temporaries(tmp_path)) == 1
    np.testing.assert_array_equal(_values(target, hdu="COUNTS"), cube.data.compute())
    cube.write(tmp_path / "other.fits", hdu="COUNTS")  # another target: leftovers of cube.fits stay
    assert len(_temporaries(tmp_path)) == 1
    (cube * 3).write(target, hdu="COUNTS", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["cube.fits", "other.fits"]


def test_next_write_removes_leftovers_of_exited_writers_only(tmp_path, cube):
    target = tmp_path / "cube.zarr"
    cube.write(target, hdu="counts")
    host = atomic._host()
    two_days_ago = time.time() - 2 * 86400

    def leftover(name, mtime=None):
        path = tmp_path / name
        path.mkdir()
        (path / "zarr.json").write_text("{}")
        if mtime is not None:
            os.utime(path / "zarr.json", (mtime, mtime))
            os.utime(path, (mtime, mtime))
        return name

    dead_pid = _exited_pid()
    removed = {
        leftover(f".cube.zarr{TEMP}{dead_pid}-{host}-0000dead"),
        leftover(f".cube.zarr{TEMP}{dead_pid}-{host}-0000dead-partial0"),  # a stack_to_zarr partial
        leftover(f".cube.zarr{TEMP}4242-0badc0de-0000001d", mtime=two_days_ago),  # another host
        leftover(f".cube.zarr{TEMP}0123456789ab", mtime=two_days_ago),  # an older mapds's name
    }
    kept = {
        leftover(f".cube.zarr{TEMP}{os.getpid()}-{host}-00a11fe0"),  # a live writer (this process)
        leftover(f".cube.zarr{TEMP}4242-0badc0de-0000ace0"),  # another host, recently modified
        leftover(f".other.zarr{TEMP}{dead_pid}-{host}-0000dead"),  # another target's
    }
    (cube * 2).write(target, hdu="counts", overwrite=True)
    left = set(os.listdir(tmp_path))
    assert left == kept | {"cube.zarr"} and not removed & left


def _exited_pid() -> int:
    process = multiprocessing.get_context("fork").Process(target=lambda: None)
    process.start()
    process.join()
    return process.pid


def test_two_writers_of_one_new_local_store(tmp_path, cube):
    target = tmp_path / "cube.zarr"
    reports = run_writers(
        lambda: cube.write(target, hdu="counts"),
        lambda: (cube * 2).write(target, hdu="counts"),
        wait_at="dir:written",  # both stores complete before either is published
    )
    errors = [report[0] for report in reports]
    assert sorted(errors, key=str) == [None, "OverwriteError"], reports
    winner = errors.index(None) + 1
    np.testing.assert_array_equal(_values(target), winner * cube.data.compute())
    assert os.listdir(tmp_path) == ["cube.zarr"]


def _dataset(value: float, name: str) -> MapDataset:
    counts = make_cube(npix=(20, 16), nbin=2, unit="", chunks={"y": 8})
    counts.data = np.full(counts.geom.data_shape, value, dtype="f4")
    return MapDataset(counts=counts, background=counts * 0 + 1.0, name=name)


def test_two_stack_to_zarr_runs_into_one_target(tmp_path):
    """Each run has its own partial stacks; the first to publish wins whole, the other is told."""
    target = tmp_path / "stacked.zarr"
    runs = [[_dataset(1.0, "a1"), _dataset(2.0, "a2")], [_dataset(10.0, "b1"), _dataset(20.0, "b2")]]
    reports = run_writers(
        *(lambda run=run: stack_to_zarr(run, target, batch_size=1) for run in runs),
        wait_at="dir:written",  # at each publish (partial, then final), in step with the other run
    )
    errors = [report[0] for report in reports]
    assert sorted(errors, key=str) == [None, "OverwriteError"], reports
    partials = [{name for name in reached if name != "stacked.zarr"} for _, _, reached, _ in reports]
    assert partials[0] and partials[1] and not partials[0] & partials[1]
    winner = errors.index(None)
    stacked = MapDataset.read(target)
    expected = sum(float(d.counts.data.sum().compute()) for d in runs[winner])
    assert float(stacked.counts.data.sum().compute()) == expected
    assert os.listdir(tmp_path) == ["stacked.zarr"]  # partial stacks removed by both runs


# -- object storage (moto S3) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two complete local stores written by mapds ("old": cube, "new": 2 cube) and their commits."""
    directory = tmp_path_factory.mktemp("stores")
    cube = make_cube(chunks={"y": 20, "x": 30})
    out = {}
    for label, factor in (("old", 1), ("new", 2)):
        path = directory / f"{label}.zarr"
        (cube * factor).write(path, hdu="counts")
        commit = json.loads((path / COMMIT_KEY).read_text())["attributes"]["commit"]
        out[label] = (path, commit, factor * cube.data.compute())
    return out


def _put_tree(fs, local, remote: str) -> None:
    files = [os.path.join(root, name) for root, _, names in os.walk(local) for name in names]
    fs.put(files, [f"{remote}/{os.path.relpath(path, local)}" for path in files])


def _publish(url, options, local, overwrite):
    """A zarr write to ``url`` whose content is the complete store ``local`` (uploaded into the
    temporary prefix: the body of a write, without the cost of writing zarr over HTTP)."""
    with atomic_directory(resolve(url, options), overwrite=overwrite) as tmp:
        _put_tree(tmp.fs, local, tmp.path)


def _remote_commit(fs, url) -> str | None:
    try:
        return json.loads(fs.cat_file(f"{url}/{COMMIT_KEY}"))["attributes"]["commit"]
    except FileNotFoundError:
        return None


def _keys(fs, url) -> set[str]:
    fs.invalidate_cache()
    return {path[len(url) - 4 :] for path in fs.find(url)}  # relative to url ("s3://" stripped)


@pytest.fixture
def s3(s3_bucket):
    """``(bucket URL, storage options)``; filesystems are cached in this process (a new S3 client
    costs a fraction of a second), never shared with the forked writers."""
    prefix, options = s3_bucket
    return prefix, {**options, "skip_instance_cache": False}


def test_s3_zarr_publish_killed_at_each_step(s3, stores, caplog):
    prefix, options = s3
    url = f"{prefix}/cube.zarr"
    fs = fsspec.filesystem("s3", **options)
    _publish(url, options, stores["old"][0], overwrite=False)
    # Killed after claiming the target: the old store is untouched and whole.
    [report] = run_writers(lambda: _publish(url, options, stores["new"][0], True), kill_at="dir:claimed")
    assert report[0] == "killed"
    assert _remote_commit(fs, url) == stores["old"][1] and fs.exists(f"{url}/{CLAIM_KEY}")
    # Killed after copying all but the manifest: incomplete, and that claim of an exited writer
    # did not block it (its temporary prefix was removed).
    [report] = run_writers(lambda: _publish(url, options, stores["new"][0], True), kill_at="dir:copied")
    assert report[0] == "killed"
    assert _remote_commit(fs, url) is None and fs.exists(f"{url}/{CLAIM_KEY}")
    assert len(fs.ls(prefix, refresh=True)) == 2  # the target, the killed writer's complete new store
    # The next open finishes the publish from the complete new store the claim names.
    with caplog.at_level(logging.WARNING, logger="mapds.io.atomic"):
        m = Map.read(url, storage_options=options)
    assert "finished the publish" in caplog.text
    np.testing.assert_array_equal(m.data.compute(), stores["new"][2])
    assert _remote_commit(fs, url) == stores["new"][1]
    assert _keys(fs, url) == _local_keys(stores["new"][0])
    assert fs.ls(prefix, detail=False, refresh=True) == [url[5:]]  # claim, temporary prefixes gone
    # A chunk deleted after the open, or the store replaced: named errors, never fill values.
    fs.rm(f"{url}/counts/c/0/1/1")
    with pytest.raises(CorruptFileError, match=r"cube\.zarr.*chunk \(0, 1, 1\) of array 'counts'.*missing"):
        m.data.compute()
    manifest = json.loads(fs.cat_file(f"{url}/{COMMIT_KEY}"))
    manifest["attributes"]["commit"] = "0" * 32  # what a new version of the store would have
    fs.pipe_file(f"{url}/{COMMIT_KEY}", json.dumps(manifest).encode())
    with pytest.raises(StaleFileError, match=r"replaced after it was opened.*reopen"):
        m.data.compute()


def _local_keys(local) -> set[str]:
    return {
        os.path.relpath(os.path.join(root, name), local).replace(os.sep, "/")
        for root, _, names in os.walk(local)
        for name in names
    }


def test_two_writers_of_one_new_s3_store_and_fits_file(s3, stores, cube, tmp_path):
    """Both writers pass the "does it exist?" check, then publish: S3 creates the FITS key, and the
    claim of the zarr store, only if absent, so one wins each whole and the other is told.

    The second publishes a moment after the first: moto checks ``If-None-Match`` and stores the
    object in two steps that two of its threads may interleave (S3 itself does not).
    """
    prefix, options = s3
    fits_url, zarr_url = f"{prefix}/cube.fits", f"{prefix}/cube.zarr"
    fs = fsspec.filesystem("s3", **options)

    def write_both(factor, label):
        outcomes = []
        for write in (
            lambda: (cube * factor).write(fits_url, hdu="COUNTS", storage_options=options),
            lambda: _publish(zarr_url, options, stores[label][0], False),
        ):
            try:
                write()
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    reports = run_writers(
        lambda: write_both(1, "old"),
        lambda: write_both(2, "new"),
        wait_at={"file:written", "dir:written"},
        stagger=0.3,
    )
    assert [report[0] for report in reports] == [None, None], reports
    fits_outcomes, zarr_outcomes = zip(*(report[3] for report in reports), strict=True)
    assert sorted(fits_outcomes, key=str) == [None, "OverwriteError"]
    assert zarr_outcomes.count(None) == 1
    assert set(zarr_outcomes) - {None} <= {"OverwriteError", "ConcurrentWriteError"}
    (cube * (fits_outcomes.index(None) + 1)).write(tmp_path / "winner.fits", hdu="COUNTS")
    assert fs.cat_file(fits_url) == (tmp_path / "winner.fits").read_bytes()
    assert _remote_commit(fs, zarr_url) == stores[("old", "new")[zarr_outcomes.index(None)]][1]
    assert sorted(fs.ls(prefix, detail=False, refresh=True)) == [fits_url[5:], zarr_url[5:]]

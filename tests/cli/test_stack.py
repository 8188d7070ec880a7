"""``mapds stack``: datasets written to files, stacked into zarr and FITS, equal gammapy's stack."""

from __future__ import annotations

import functools
import sys

import dask
import numpy as np
import pytest
from gammapy.datasets import Datasets as GammapyDatasets

from mapds.cli import main, stack
from mapds.cli.progress import active_client
from mapds.datasets import MapDataset
from mapds.datasets.stacking import stack_reduce
from mapds.testing import GAMMAPY, MAPDS, assert_dataset_same, build_dataset

N_DATASETS = 3


def _build(library: str, seed: int):
    # GTIs 300 s apart; the last dataset holds NaN / inf values, which stacking zeroes
    return build_dataset(library, seed, name=f"obs{seed}", gti_start=300.0 * seed, nan=seed == N_DATASETS - 1)


@pytest.fixture(scope="module")
def observations(tmp_path_factory) -> list[str]:
    """Paths of the datasets, as gadf FITS files."""
    directory = tmp_path_factory.mktemp("observations")
    paths = []
    for seed in range(N_DATASETS):
        path = directory / f"obs{seed}.fits"
        _build(MAPDS, seed).write(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def gammapy_stack():
    """gammapy's ``stack_reduce`` of the same datasets, built in memory."""
    return GammapyDatasets([_build(GAMMAPY, seed) for seed in range(N_DATASETS)]).stack_reduce(name="stacked")


@pytest.fixture(scope="module")
def library_values(observations) -> dict:
    """Counts, exposure and background of the library's ``stack_reduce`` of the files, on threads."""
    stacked = stack_reduce([MapDataset.read(path) for path in observations], name="stacked")
    return _values(stacked)


def _values(dataset) -> dict:
    members = ("counts", "exposure", "background", "mask_safe")
    arrays = [getattr(dataset, member).data for member in members]
    return dict(zip(members, dask.compute(*arrays, scheduler="threads"), strict=True))


def _assert_values(dataset, expected: dict) -> None:
    for member, values in _values(dataset).items():
        np.testing.assert_allclose(values, expected[member], rtol=1e-12, err_msg=member)


def run_command(capsys, *argv: str) -> tuple[int, str, str]:
    """``mapds ARGV`` in this process: exit code, standard output, standard error."""
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_fails(capsys, *argv: str, words: str, code: int = 1) -> None:
    """``mapds ARGV`` exits with ``code`` and says ``words`` on one line of standard error."""
    if code == 2:  # argparse's usage errors
        with pytest.raises(SystemExit) as excinfo:
            main([str(arg) for arg in argv])
        assert excinfo.value.code == 2
    else:
        assert main([str(arg) for arg in argv]) == code
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert words in err, err


# -- results --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".zarr", ".fits"])
def test_stack_equals_gammapy(observations, gammapy_stack, tmp_path, capsys, suffix):
    out = tmp_path / f"stacked{suffix}"
    code, stdout, stderr = run_command(capsys, "stack", out, *observations)
    assert code == 0, stderr
    stacked = MapDataset.read(out)
    assert_dataset_same(stacked, gammapy_stack)
    counts = gammapy_stack.counts.data.sum()
    assert f"stacked {N_DATASETS} datasets into {out}: counts {counts:.10g}, livetime 6000 s" in stdout
    assert stderr == ""  # standard error is not a terminal: no progress bar


def test_from_list_in_batches(observations, library_values, tmp_path, capsys):
    """A list file (comments, blank lines) after a path on the command line; batches of two."""
    listing = tmp_path / "runs.txt"
    listing.write_text(f"# runs of the night\n\n{observations[1]}\n   \n{observations[2]}  \n# end\n")
    out = tmp_path / "stacked.zarr"
    argv = ["-q", "--batch-size", "2", "--name", "night", out, observations[0], "--from-list", listing]
    code, stdout, stderr = run_command(capsys, "stack", *argv)
    assert (code, stdout, stderr) == (0, "", "")  # -q: no steps, no summary, no progress bar
    stacked = MapDataset.read(out)
    assert stacked.name == "night"
    _assert_values(stacked, library_values)


def test_overwrite_with_progress_bar(observations, library_values, tmp_path, capsys, monkeypatch):
    """``--overwrite`` replaces an older file; ``--progress`` draws dask's bar on threads."""
    # computations this small take less than the bar's one-second minimum
    monkeypatch.setattr(stack, "progress", functools.partial(stack.progress, minimum=0))
    out = tmp_path / "stacked.fits"
    out.write_text("an older file")
    code, _, stderr = run_command(capsys, "stack", "--progress", "--overwrite", out, *observations)
    assert code == 0
    assert "100% Completed" in stderr
    _assert_values(MapDataset.read(out), library_values)


# -- on a dask.distributed cluster ----------------------------------------------------------------


class _SharedCluster:
    """Stands for the ``LocalCluster`` that ``--workers`` starts: hands out the session's cluster
    (starting worker processes costs seconds) and leaves it open."""

    def __init__(self, cluster):
        self._cluster = cluster

    def __getattr__(self, name):
        return getattr(self._cluster, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_workers_on_a_local_cluster(
    local_cluster, observations, library_values, tmp_path, capsys, monkeypatch
):
    """``--workers 2``: the same numbers from worker processes, and the cluster's progress bar."""
    import distributed

    calls = []

    def start(**kwargs):
        calls.append(kwargs)
        return _SharedCluster(local_cluster)

    monkeypatch.setattr(distributed, "LocalCluster", start)
    out = tmp_path / "stacked.zarr"
    code, stdout, stderr = run_command(capsys, "stack", "--progress", "--workers", "2", out, *observations)
    assert code == 0, stderr
    assert [(c["n_workers"], c["processes"]) for c in calls] == [(2, True)]
    assert "start a local cluster of 2 worker processes" in stdout
    _assert_values(MapDataset.read(out), library_values)
    last = stderr.rstrip("\n").split("\r")[-1]
    assert last.startswith("[" + "#" * 40 + "] 100%"), stderr
    assert active_client() is None  # the command closed its client


def test_scheduler_address(local_cluster, observations, library_values, tmp_path, capsys):
    out = tmp_path / "stacked.fits"
    code, stdout, stderr = run_command(
        capsys, "stack", "-q", "--scheduler", local_cluster.scheduler_address, out, *observations
    )
    assert (code, stdout, stderr) == (0, "", "")
    _assert_values(MapDataset.read(out), library_values)


# -- errors ---------------------------------------------------------------------------------------


def test_missing_input(observations, tmp_path, capsys):
    missing = tmp_path / "no-such-run.fits"
    assert_fails(
        capsys, "stack", tmp_path / "out.zarr", observations[0], missing, words=f"not found: {missing}"
    )
    assert not (tmp_path / "out.zarr").exists()


def test_existing_output_without_overwrite(observations, tmp_path, capsys):
    out = tmp_path / "out.zarr"
    out.mkdir()
    assert_fails(capsys, "stack", out, *observations, words=f"{out} exists: pass --overwrite")


def test_output_is_an_input(observations, capsys):
    assert_fails(capsys, "stack", "--overwrite", observations[1], *observations, words="is also an input")


def test_empty_list(tmp_path, capsys):
    listing = tmp_path / "runs.txt"
    listing.write_text("# nothing tonight\n\n")
    assert_fails(capsys, "stack", tmp_path / "out.zarr", "--from-list", listing, words="lists no dataset")


def test_missing_list(tmp_path, capsys):
    listing = tmp_path / "runs.txt"
    assert_fails(
        capsys,
        "stack",
        tmp_path / "out.zarr",
        "--from-list",
        listing,
        words=f"list file not found: {listing}",
    )


def test_no_input(tmp_path, capsys):
    assert_fails(capsys, "stack", tmp_path / "out.zarr", words="no input dataset given")


@pytest.mark.parametrize(
    ("name", "words"),
    [("out.h5", "cannot tell the output format"), ("out.fits.gz", "does not write gzip-compressed FITS")],
)
def test_output_format(observations, tmp_path, capsys, name, words):
    assert_fails(capsys, "stack", tmp_path / name, observations[0], words=words)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--workers", "0"], "--workers: must be at least 1, got 0"),
        (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
        (["--workers", "2", "--scheduler", "tcp://localhost:8786"], "not allowed with argument"),
    ],
)
def test_usage_errors(observations, tmp_path, capsys, options, words):
    assert_fails(capsys, "stack", *options, tmp_path / "out.zarr", observations[0], words=words, code=2)


def test_workers_without_distributed(observations, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    assert_fails(
        capsys,
        "stack",
        "--workers",
        "2",
        tmp_path / "out.zarr",
        *observations,
        words="--workers needs the 'distributed' package: pip install 'mapds[distributed]'",
    )


def test_unreachable_scheduler(observations, tmp_path, capsys):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert_fails(
            capsys,
            "stack",
            "--scheduler",
            "tcp://127.0.0.1:1",
            tmp_path / "out.zarr",
            *observations,
            words="cannot connect to the dask scheduler at tcp://127.0.0.1:1",
        )

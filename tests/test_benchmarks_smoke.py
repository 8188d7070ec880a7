"""Every benchmark script runs at its smallest size and writes a valid results file.

Each script's ``main(argv)`` runs here (its command line parsed as from a shell), mapds only, on
the smallest case (with one source: ``--sources 1``), with its steps in this process
(``--in-process``: a fresh interpreter per step costs seconds of imports, and a fresh interpreter
per script would too) and its results in a temporary directory; the JSON must follow the schema
of ``benchmarks/record.py`` and ``benchmarks/report.py`` must render it.  No timing is asserted:
the figures of a smoke run mean nothing.  Marked ``bench_smoke`` (a few seconds per script;
``-m "not bench_smoke"`` skips them).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
SMALLEST = "w5_h2_b0.02_e10_t15_kernel"

pytestmark = pytest.mark.bench_smoke

#: script -> (its smallest arguments, the case of its results file, steps it must report)
RUNS = {
    "bench_io": (
        ["--case", SMALLEST, "--cutout", "50", "--no-gammapy"],
        SMALLEST,
        {"mapds:open FITS", "astropy:open FITS", "mapds:sum FITS", "astropy:sum FITS", "mapds:cutout FITS",
         "astropy:cutout FITS", "mapds:sum zarr"},
    ),
    "bench_dataset": (
        [SMALLEST, "--no-gammapy", "--formats", "fits", "--sources", "1"],
        f"{SMALLEST}_1src",
        {"mapds:build + fake, counts sum", "mapds:open fits", "mapds:npred cold (fits)",
         "mapds:stat_sum cold (fits)", "mapds:stat_sum after a position change (fits)"},
    ),
    "bench_models": (
        ["--case", SMALLEST, "--n-models", "5", "--no-gammapy", "--sources", "1"],
        f"{SMALLEST}_1src",
        {"mapds:Σ PSF kernel (1 source)", "mapds:build + npred(), all sources (1 source)"},
    ),
    "bench_stat_memory": (
        ["--case", SMALLEST, "--repeat", "1", "--no-gammapy", "--sources", "1"],
        f"{SMALLEST}_1src",
        {"mapds:persist inputs", "mapds:stat_sum cold, inputs in memory"},
    ),
    "bench_fit": (
        ["--sizes", SMALLEST, "--sources", "1", "--no-gammapy", "--crab", "none"],
        f"{SMALLEST}_1src",
        {"mapds:simulate + write fits", "mapds:fit, 3 free parameters"},
    ),
    "bench_cloud": (
        ["--width", "5", "--height", "2", "--binsz", "0.02", "--formats", "fits", "--latency", "1",
         "--sources", "1"],
        f"{SMALLEST}_1src",
        {"mapds:open (fits, 1 ms)", "mapds:cutout (fits, 1 ms)", "mapds:stat_sum cold (fits, 1 ms)",
         "mapds:stat_sum after an amplitude change (fits, 1 ms)"},
    ),
    "bench_stack": (
        ["--n", "2", "--npix", "64", "--nbin", "2", "--chunk", "32", "--batch-size", "2", "--workers", "1"],
        "n2_npix64_nbin2_chunk32_batch2_w1",
        {"mapds:stack_to_zarr on a LocalCluster"},
    ),
    "bench_estimators": (
        ["--sizes", SMALLEST, "--no-gammapy", "--sources", "1"],
        f"{SMALLEST}_1src",
        {"mapds:simulate + write zarr", "mapds:excess map (0.1° correlation radius)",
         "mapds:TS map (point source, 0.6° kernel)"},
    ),
    "bench_catalogue": (
        ["--clusters", "1", "--binsz", "0.04"],
        "3src_3x2.4_b0.04",
        {"mapds:catalogue fit, 3 sources", "mapds:joint fit, 3 sources"},
    ),
    "bench_import": (
        ["--repeat", "1", "--no-gammapy"],
        "cached_bytecode",
        {"mapds:import", "raw:start python"},
    ),
    "bench_stack --survey": (
        ["--survey", SMALLEST, "--copies", "2", "--no-gammapy"],
        f"{SMALLEST}_x2",
        {"mapds:write the input datasets", "mapds:stack 2 datasets from files (fits)",
         "mapds:stack 2 datasets from files (zarr)"},
    ),
}


def _record():
    spec = importlib.util.spec_from_file_location("mapds_bench_record", BENCHMARKS / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(name: str):
    """The benchmark script as a module (it puts ``benchmarks/`` on ``sys.path`` for its helpers)."""
    spec = importlib.util.spec_from_file_location(f"mapds_bench_smoke_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", sorted(RUNS))
def test_script_writes_valid_results(script, tmp_path, capsys):
    args, case, expected_steps = RUNS[script]
    script = script.split()[0]  # a script may run in several modes
    results = tmp_path / "results"
    argv = [*args, "--in-process", "--results-dir", str(results)]
    if script in ("bench_io", "bench_dataset", "bench_stack", "bench_fit", "bench_cloud"):  # they write files
        argv += ["--dir", str(tmp_path / "work")]
    _script(script).main(argv)
    assert "written:" in capsys.readouterr().err

    path = results / f"{script}-{case}.json"
    assert [p.name for p in results.iterdir()] == [path.name]
    data = json.loads(path.read_text())
    _record().validate(data)
    assert data["script"] == script and data["case"] == case
    assert data["conditions"]["fresh_processes"] is False
    assert data["command"].startswith(f"python benchmarks/{script}.py")
    assert "--in-process" in data["command"]
    for key in ("cpus", "cpu_model", "memory_gib", "python"):
        assert key in data["machine"]
    assert data["versions"]["mapds"]
    ids = {step["id"] for step in data["steps"]}
    assert expected_steps <= ids, expected_steps - ids
    for step in data["steps"]:
        assert "error" not in step, step
        assert step["seconds"] >= 0
        assert step["library"] in ("mapds", "astropy", "astropy-memmap", "raw")
    assert data["comparisons"] == [] or script == "bench_io"  # mapds only: ratios only against astropy
    if script == "bench_cloud":  # the S3 server's counts reached the results
        opened = next(s for s in data["steps"] if s["step"].startswith("open"))
        assert opened["requests"] >= 1 and opened["bytes_fetched"] > 0

    # The report renders it (into copies of the READMEs).
    copies = []
    for readme in (REPO / "README.md", BENCHMARKS / "README.md"):
        copies.append(tmp_path / f"{readme.parent.name}-{readme.name}")
        shutil.copy(readme, copies[-1])
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "report.py"), "--results-dir", str(results),
                           *map(str, copies)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"{script}-{case}.json" in "".join(p.read_text() for p in copies)


def test_bench_fit_crab_writes_valid_results(crab_dir, tmp_path, capsys):
    """The Crab part of ``bench_fit`` (the converging fit, mapds only) on the Fermi-LAT test data."""
    results = tmp_path / "results"
    argv = ["--sizes", "--crab", "moved", "--crab-dir", str(crab_dir), "--no-gammapy", "--in-process",
            "--results-dir", str(results)]
    _script("bench_fit").main(argv)
    assert "written:" in capsys.readouterr().err
    path = results / "bench_fit-fermi_3fhl_crab.json"
    assert [p.name for p in results.iterdir()] == [path.name]
    data = json.loads(path.read_text())
    _record().validate(data)  # no absolute path: --crab-dir is recorded relative to the repository
    (step,) = data["steps"]
    assert step["id"] == "mapds:fit, LogParabola reference at 0.05 TeV"
    assert step["success"] and step["evaluations"] > step["nfev"]  # MIGRAD's calls and the final one
    assert set(step["parameters"]) == {"Crab Nebula.amplitude", "Crab Nebula.alpha", "Crab Nebula.beta",
                                       "Fermi-LAT-bkg.norm"}

"""The benchmark tables of the READMEs come from the committed results (``benchmarks/results/*.json``).

``benchmarks/report.py --check`` regenerates every table between ``<!-- bench:table:NAME -->``
markers and fails when a README differs, so a figure edited by hand (or results committed without
rerunning the report) fails here.  The results files themselves must follow the schema
(``benchmarks/record.py``): ratios only between two libraries' entries of the same step, and no
absolute path of the machine that ran them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
REPORT = BENCHMARKS / "report.py"


def _record():
    spec = importlib.util.spec_from_file_location("mapds_bench_record", BENCHMARKS / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(*args, cwd=REPO):
    return subprocess.run([sys.executable, str(REPORT), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_readme_tables_are_generated_from_the_results():
    proc = _report("--check")
    assert proc.returncode == 0, f"tables differ from benchmarks/results:\n{proc.stdout}\n{proc.stderr}"


def test_both_readmes_have_generated_tables():
    readme = (REPO / "README.md").read_text()
    performance = readme[readme.index("## Performance"):]
    performance = performance[: performance.index("\n## ", 1)]
    assert "<!-- bench:table:summary -->" in performance
    assert "<!-- bench:table:dataset -->" in (BENCHMARKS / "README.md").read_text()


def test_a_hand_edited_figure_fails_the_check(tmp_path):
    text = (BENCHMARKS / "README.md").read_text()
    start = text.index("<!-- bench:table:dataset -->")
    end = text.index("<!-- /bench:table:dataset -->")
    block = text[start:end]
    row = next(line for line in block.splitlines() if line.startswith("| build + fake, counts sum"))
    cells = row.split(" | ")
    cells[1] = "0.001"  # mapds seconds, "improved" by hand
    edited = text[:start] + block.replace(row, " | ".join(cells)) + text[end:]
    copy = tmp_path / "README.md"
    copy.write_text(edited)
    proc = _report("--check", copy)
    assert proc.returncode == 1
    assert "never edit them by hand" in proc.stderr


def test_committed_results_follow_the_schema():
    record = _record()
    results = record.load_results(BENCHMARKS / "results")
    scripts = {r["script"] for r in results}
    assert {"bench_io", "bench_dataset", "bench_models", "bench_stat_memory", "bench_stack"} <= scripts
    for report in results:
        assert report["command"].startswith(f"python benchmarks/{report['script']}.py")


def test_validate_rejects_a_ratio_between_unlike_steps():
    record = _record()
    report = record.Report("bench_dataset.py", "case", {"voxels": 1}, ["case"])
    report.step("mapds", "open fits", "lazy open", {"seconds": 0.1})
    report.step("gammapy", "read every map (fits)", "full load", {"seconds": 5.0})
    report.data["comparisons"].append({"step": "open fits", "numerator": "gammapy:read every map (fits)",
                                       "denominator": "mapds:open fits", "ratio": 50.0})
    with pytest.raises(record.SchemaError, match="not between two libraries' entries of one step"):
        report.finish()


def test_compare_only_pairs_entries_of_one_step():
    record = _record()
    report = record.Report("bench_dataset.py", "case", {"voxels": 1}, ["case"])
    report.step("mapds", "npred cold (fits)", "read + npred", {"seconds": 1.0})
    report.step("gammapy", "npred cold (fits)", "read + npred", {"seconds": 4.0})
    report.step("mapds", "open fits", "lazy open", {"seconds": 0.1})
    assert report.compare("npred cold (fits)") == 4.0
    assert report.compare("open fits") is None  # gammapy has no entry of this step
    data = report.finish()
    assert [c["step"] for c in data["comparisons"]] == ["npred cold (fits)"]
    json.dumps(data)


def test_command_lines_hold_no_path_of_the_repository():
    record = _record()
    argv = ["--results-dir", str(BENCHMARKS / "results"), "--case", "x"]
    command = record.command_line("bench_io.py", argv)
    assert command == "python benchmarks/bench_io.py --results-dir benchmarks/results --case x"


def test_no_absolute_path_in_the_benchmarks():
    parent = str(REPO.parent) + os.sep
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "benchmarks"], capture_output=True,
                             text=True, check=False).stdout.split()
    files = [REPO / name for name in tracked] or [p for p in BENCHMARKS.rglob("*") if p.is_file()]
    offending = [str(p.relative_to(REPO)) for p in files
                 if p.is_file() and p.suffix in (".py", ".md", ".json") and parent in p.read_text()]
    assert not offending

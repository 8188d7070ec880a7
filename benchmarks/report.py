"""Render the benchmark tables of the READMEs from the committed results (``results/*.json``).

Every table of figures in ``benchmarks/README.md`` and in the Performance section of the top-level
``README.md`` sits between marker comments::

    <!-- bench:table:NAME -->
    ...generated, do not edit...
    <!-- /bench:table:NAME -->

and is generated here from the JSON files the benchmark scripts write (``record.py`` describes
them).  ``python benchmarks/report.py`` rewrites the tables; ``--check`` only compares and exits
with status 1 (printing a diff) when a README differs from what the results give, so a hand edit
of a figure fails the tests (``tests/test_benchmark_tables.py``).

Tables: ``summary``, ``targets`` and ``fit-summary`` (top-level README), ``runs``, ``io``,
``dataset``, ``dataset-target``, ``models``, ``stat-memory``, ``stack``, ``fit``, ``cloud``,
``import`` (benchmarks README).  Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import REPO, RESULTS_DIR, load_results

READMES = (REPO / "README.md", REPO / "benchmarks" / "README.md")
MARKER = re.compile(
    r"(?P<open><!-- bench:table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- /bench:table:(?P=name) -->)",
    re.DOTALL,
)
DATASET_CASE_RATIO_STEPS = (
    "build + fake, counts sum",
    "build + fake + write fits",
    "open fits",
    "read every map (fits)",
    "open + counts sum (fits)",
    "npred cold (fits)",
    "stat_sum cold (fits)",
    "stat_sum after an amplitude change (fits)",
    "stat_sum after a position change (fits)",
)


# -- formatting ----------------------------------------------------------------------------------------


def seconds(value) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def ratio(value) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def mib(value) -> str:
    return "" if value is None else f"{value:.0f}"


def size(n) -> str:
    """Bytes in kB / MB / GB (powers of 1000), three significant digits."""
    if n is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def voxels(n) -> str:
    return f"{n / 1e9:.3g} G" if n >= 1e9 else f"{n / 1e6:.3g} M"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def case_title(report: dict) -> str:
    info = report["case_info"]
    if _is_cluster_stack(report):
        return (
            f"{info['n']} datasets of {info['nbin_reco']} × {info['npix'][0]} × {info['npix'][1]} "
            f"({info['chunk']}-pixel chunks, batches of {info['batch_size']}, {info['workers']} workers)"
        )
    width, height = info["npix"]
    text = (
        f"{info['width_deg']:g}° × {info['height_deg']:g}° at {info['binsz_deg']:g}° "
        f"({width} × {height} px × "
        f"{info['nbin_reco']} reco bins = {voxels(info['voxels'])} reco voxels)"
    )
    n_models = info.get("n_models")
    if "copies" in info:
        text += f", {info['copies']} copies"
    elif isinstance(n_models, int) and report["script"] != "bench_io":
        text += f", {n_models} sources"
    return text


def _is_cluster_stack(report: dict) -> bool:
    """A ``bench_stack`` run of many synthetic observations on a cluster (not survey copies)."""
    return report["script"] == "bench_stack" and "copies" not in report["case_info"]


def short_case(report: dict) -> str:
    info = report["case_info"]
    if _is_cluster_stack(report):
        return f"{info['n']} × {info['npix'][0]}²"
    text = f"{info['width_deg']:g}° × {info['height_deg']:g}° ({voxels(info['voxels'])} voxels)"
    return f"{info['copies']} × {text}" if "copies" in info else text


def run_line(report: dict) -> str:
    """Where a table's numbers come from: the results file, date, conditions."""
    cond = report["conditions"]
    notes = []
    if not cond.get("fresh_processes", True):
        notes.append("steps in one process (smoke-test mode: peaks are the run's)")
    if cond.get("cold_cache") is False:
        notes.append("page cache NOT dropped (warm reads)")
    load = cond.get("load_average_start")
    if load:
        notes.append(f"load average {load[0]:.1f} at the start")
    extra = f"; {'; '.join(notes)}" if notes else ""
    return (
        f"_`results/{report['script']}-{report['case']}.json`, {report['date'][:10]}, "
        f"{report['machine'].get('cpus')} CPUs{extra}._"
    )


def steps_by_id(report: dict) -> dict[str, dict]:
    return {s["id"]: s for s in report["steps"]}


def ratios(report: dict) -> dict[tuple[str, str], float]:
    """``(numerator library, step) -> ratio`` of the like-step comparisons."""
    return {(c["numerator"].split(":")[0], c["step"]): c["ratio"] for c in report["comparisons"]}


def step_names(report: dict) -> list[str]:
    return list(dict.fromkeys(s["step"] for s in report["steps"]))


def what_table(report: dict, libraries: list[str]) -> str:
    """What each library does in each step (from the results' ``what``; one row per kind of step)."""
    by_id = steps_by_id(report)
    rows = {}
    for step in step_names(report):
        kind = re.sub(r" \(\d+ sources?\)$", "", step)
        cells = [by_id.get(f"{lib}:{step}", {}).get("what", "") for lib in libraries]
        rows.setdefault(kind, [kind, *cells])
    return table(["step", *libraries], list(rows.values()))


def missing(script: str, command: str) -> str:
    return f"_No results yet: run `{command}` (then `python benchmarks/report.py`)._"


# -- tables --------------------------------------------------------------------------------------------


def render_runs(results: list[dict]) -> str:
    rows = []
    for r in results:
        load = r["conditions"].get("load_average_start") or []
        end = r["conditions"].get("load_average_end") or []
        git = r["git"]
        commit = (git.get("commit") or "")[:10] + (" (dirty)" if git.get("dirty") else "")
        if git.get("mapds_imported_from") not in (None, "repository"):
            commit += ", mapds from a snapshot of it"
        rows.append(
            [
                f"`{r['script']}-{r['case']}.json`",
                r["date"].replace("T", " ").replace("+00:00", " UTC"),
                f"`{r['command']}`",
                "{cpus} × {cpu_model}, {memory_gib} GiB".format(**r["machine"]),
                commit,
                f"{load[0]:.1f} → {end[0]:.1f}" if load and end else "",
                seconds(r.get("seconds_total")),
            ]
        )
    return table(["results file", "date", "command", "machine", "commit", "load average", "run s"], rows)


def render_dataset(results: list[dict], what: bool = True) -> str:
    if not results:
        return missing("bench_dataset", "python benchmarks/bench_dataset.py 1000x250")
    parts = []
    for r in results:
        by_id, ratio_of = steps_by_id(r), ratios(r)
        agreement = r["extra"].get("agreement_rel_diff", {})
        with_gammapy = any(s["library"] == "gammapy" for s in r["steps"])
        header = ["step", "mapds s", "mapds peak MiB", "mapds read"]
        if with_gammapy:
            header += ["gammapy s", "gammapy peak MiB", "gammapy read", "gammapy / mapds", "rel. diff"]
        rows = []
        for step in step_names(r):
            row = [step]
            for library in ["mapds"] + (["gammapy"] if with_gammapy else []):
                entry = by_id.get(f"{library}:{step}")
                if entry is None:
                    row += ["", "", ""]
                    continue
                peak = "″" if entry.get("same_process_as") else mib(entry.get("peak_rss_mib"))
                shown = "failed" if entry["seconds"] is None else seconds(entry["seconds"])
                row += [shown, peak, size(entry.get("bytes_read"))]
            if with_gammapy:
                value = ratio_of.get(("gammapy", step))
                lazy_open = re.fullmatch(r"open \w+", step) and f"gammapy:{step}" in by_id
                row.append(
                    ratio(value) if value is not None else ("no ratio: lazy opens" if lazy_open else "")
                )
                row.append(f"{agreement[step]:.1e}" if step in agreement else "")
            rows.append(row)
        files = r["extra"].get("file_bytes", {})
        sizes = ", ".join(f"{name} {size(n)}" for name, n in files.items())
        parts.append(
            f"**{case_title(r)}**"
            + (f"; files: {sizes}" if sizes else "")
            + "\n\n"
            + run_line(r)
            + "\n\n"
            + table(header, rows)
        )
    if not what:
        return "\n\n".join(parts)
    richest = max(results, key=lambda r: len(r["steps"]))
    libs = ["mapds"] + (["gammapy"] if any(s["library"] == "gammapy" for s in richest["steps"]) else [])
    return "\n\n".join(parts) + "\n\nWhat each step is:\n\n" + what_table(richest, libs)


def render_dataset_target(results: list[dict]) -> str:
    targets = [r for r in results if r["case"].endswith("_target")]
    if not targets:
        return missing("bench_dataset", "python benchmarks/bench_dataset.py --target")
    names = [s["step"] for s in targets[-1]["steps"] if not s.get("same_process_as")]
    header = ["step", *(f"{voxels(r['case_info']['voxels'])} voxels: s / peak MiB" for r in targets)]
    rows = []
    for step in names:
        cells = []
        for r in targets:
            entry = steps_by_id(r).get(f"mapds:{step}")
            cells.append(
                ""
                if not entry or entry["seconds"] is None
                else f"{seconds(entry['seconds'])} / {mib(entry.get('peak_rss_mib'))}"
            )
        rows.append([step, *cells])
    return (
        "Peak RSS against cube size (mapds):\n\n"
        + table(header, rows)
        + "\n\nEach case in detail:\n\n"
        + render_dataset(targets, what=False)
    )


def render_io(results: list[dict]) -> str:
    if not results:
        return missing("bench_io", "python benchmarks/bench_io.py")
    parts = []
    for r in results:
        ratio_of = ratios(r)
        rows = []
        for s in r["steps"]:
            value = ratio_of.get((s["library"], s["step"]))
            rows.append(
                [
                    s["step"],
                    s["library"],
                    "failed" if s["seconds"] is None else seconds(s["seconds"]),
                    "" if s.get("gb_per_s") is None else f"{s['gb_per_s']:.3g}",
                    "" if s.get("vs_raw_read") is None else f"{s['vs_raw_read']:.2f}",
                    size(s.get("bytes_read")),
                    size(s.get("disk_bytes_read")),
                    "" if s.get("disk_over_needed") is None else f"{s['disk_over_needed']:.2f}",
                    mib(s.get("peak_rss_mib")),
                    ratio(value),
                ]
            )
        extra = r["extra"]
        cut = extra.get("cutout_px", ["?", "?"])
        title = (
            f"**{case_title(r)}**; FITS {size(extra['file_bytes'].get('FITS'))}, zarr "
            f"{size(extra['file_bytes'].get('zarr'))}; cutout {cut[0]} × {cut[1]} px × all bins "
            f"({size(extra.get('cutout_bytes'))} needed)"
        )
        header = [
            "step",
            "library",
            "s",
            "GB/s",
            "vs raw read",
            "read() bytes",
            "disk bytes",
            "disk / needed",
            "peak MiB",
            "library / mapds",
        ]
        notes = "".join(f"\n\n{note}" for note in r["notes"])
        parts.append(f"{title}\n\n{run_line(r)}\n\n{table(header, rows)}{notes}")
    what = {}
    for s in results[-1]["steps"]:
        what.setdefault((s["library"], s["step"].replace(" FITS", "").replace(" zarr", "")), s["what"])
    what_rows = [[lib, kind, text] for (lib, kind), text in what.items()]
    return "\n\n".join(parts) + "\n\nWhat each step is:\n\n" + table(["library", "step", "does"], what_rows)


def render_models(results: list[dict]) -> str:
    if not results:
        return missing("bench_models", "python benchmarks/bench_models.py")
    parts = []
    fields = (
        ("PSF kernel", "psf_kernel_s"),
        ("EDisp kernel", "edisp_kernel_s"),
        ("update", "update_s"),
        ("compute_npred", "compute_npred_s"),
    )
    for r in results:
        by_id, ratio_of = steps_by_id(r), ratios(r)
        rows = []
        for step in step_names(r):
            m, g = by_id.get(f"mapds:{step}", {}), by_id.get(f"gammapy:{step}", {})
            value = ratio_of.get(("gammapy", step))
            rows.append(
                [
                    step,
                    seconds(m.get("seconds")),
                    seconds(g.get("seconds")),
                    ratio(value)
                    if value is not None
                    else ("no ratio: lazy vs computed" if g and step.startswith("build, no") else ""),
                    mib(m.get("peak_rss_mib")),
                    mib(g.get("peak_rss_mib")),
                ]
            )
        header = ["step", "mapds s", "gammapy s", "gammapy / mapds", "mapds peak MiB", "gammapy peak MiB"]
        text = f"**{case_title(r)}**\n\n{run_line(r)}\n\n{table(header, rows)}"
        for n, per_model in r["extra"].get("per_model", {}).items():
            med_rows = []
            for kind in ("point", "gauss"):
                for label, key in fields:
                    cells = []
                    values = {}
                    for lib in ("mapds", "gammapy"):
                        picked = [m[key] for m in per_model.get(lib, []) if m["spatial"] == kind]
                        values[lib] = statistics.median(picked) if picked else None
                        cells.append("" if values[lib] is None else f"{values[lib] * 1e3:.1f}")
                    both = values["mapds"] and values["gammapy"]
                    med_rows.append(
                        [kind, label, *cells, ratio(values["gammapy"] / values["mapds"]) if both else ""]
                    )
            text += f"\n\nMedian per source ({n} in the dataset), ms:\n\n" + table(
                ["kind", "call", "mapds ms", "gammapy ms", "gammapy / mapds"], med_rows
            )
        agreement = r["extra"].get("agreement_rel_diff", {})
        if agreement:
            text += "\n\nAgreement (relative difference): " + "; ".join(
                f"{n} sources: npred {a['npred']:.1e}, per-source npred ≤ {a['per_model_npred_max']:.1e}"
                for n, a in agreement.items()
            )
        parts.append(text)
    return "\n\n".join(parts) + "\n\nWhat each step is:\n\n" + what_table(results[-1], ["mapds", "gammapy"])


#: The steps of ``bench_stat_memory``: cold (fresh models), and the statistic over every voxel.
MEMORY_STEPS = (
    "stat_sum cold, inputs in memory",
    "stat_sum over every voxel, models evaluated, inputs in memory",
)


def render_stat_memory(results: list[dict]) -> str:
    if not results:
        return missing("bench_stat_memory", "python benchmarks/bench_stat_memory.py")
    parts = []
    for r in results:
        ratio_of = ratios(r)
        rows = []
        for s in r["steps"]:
            rate = "" if s.get("voxels_per_s") is None else f"{s['voxels_per_s'] / 1e6:.3g}"
            repeats = ", ".join(seconds(t) for t in s.get("repeats", []))
            value = ratio_of.get((s["library"], s["step"]))
            rows.append(
                [
                    s["library"],
                    s["step"],
                    "failed" if s["seconds"] is None else seconds(s["seconds"]),
                    rate,
                    repeats,
                    mib(s.get("peak_rss_mib")),
                    ratio(value),
                ]
            )
        header = [
            "library",
            "step",
            "s (median)",
            "M voxels/s",
            "each repeat s",
            "peak MiB",
            "gammapy / mapds",
        ]
        text = f"**{case_title(r)}**\n\n{run_line(r)}\n\n{table(header, rows)}"
        agreement = r["extra"].get("agreement_rel_diff", {})
        if agreement:
            text += "\n\nAgreement of the statistic: relative difference " + ", ".join(
                f"{v:.1e}" for v in agreement.values()
            )
        parts.append(text)
    return "\n\n".join(parts) + "\n\nWhat each step is:\n\n" + what_table(results[-1], ["mapds", "gammapy"])


def render_stack(results: list[dict]) -> str:
    if not results:
        return missing("bench_stack", "python benchmarks/bench_stack.py")
    rows = []
    for r in results:
        write, stack = r["steps"][0], r["steps"][-1]
        rows.append(
            [
                case_title(r),
                seconds(write["seconds"]),
                seconds(stack["seconds"]),
                f"{stack['peak_managed_per_worker_mib']:.2f}",
                f"{stack['peak_managed_per_worker_chunks']:.1f}",
                f"{100 * stack['peak_managed_over_input']:.2f} %",
                f"`{r['script']}-{r['case']}.json`, {r['date'][:10]}",
            ]
        )
    header = [
        "case",
        "write inputs s",
        "stack_to_zarr s",
        "peak managed MiB / worker",
        "in chunks",
        "of the input",
        "results",
    ]
    return table(header, rows)


def render_stack_survey(results: list[dict]) -> str:
    """Survey copies stacked from files by both libraries (``bench_stack.py --survey``)."""
    if not results:
        return missing("bench_stack", "python benchmarks/bench_stack.py --survey 18000x500 --copies 10")
    rows = []
    for r in results:
        found = ratios(r)
        for entry in r["steps"][1:]:
            value = found.get(("gammapy", entry["step"])) if entry["library"] == "mapds" else None
            rows.append(
                [
                    case_title(r),
                    entry["step"],
                    entry["library"],
                    seconds(entry["seconds"]),
                    mib(entry["peak_rss_mib"]),
                    "" if value is None else ratio(value),
                ]
            )
    header = ["case", "step", "library", "seconds", "peak RSS MiB", "gammapy / mapds"]
    return table(header, rows)


def render_estimators(results: list[dict]) -> str:
    """Excess and TS maps of each case by both libraries, with the agreement of their values."""
    if not results:
        return missing("bench_estimators", "python benchmarks/bench_estimators.py")
    rows = []
    for r in results:
        found = ratios(r)
        agreement = r["extra"].get("agreement", {})
        for entry in r["steps"][1:]:
            value = found.get(("gammapy", entry["step"])) if entry["library"] == "mapds" else None
            agree = agreement.get(entry["step"], {}) if entry["library"] == "gammapy" else {}
            diffs = []
            if agree.get("sqrt_ts_max_abs_diff") is not None:
                diffs.append(f"sqrt_ts ≤ {agree['sqrt_ts_max_abs_diff']:.1e}")
            if agree.get("norm_max_rel_diff_ts_above_25") is not None:
                diffs.append(f"norm (ts > 25) ≤ {agree['norm_max_rel_diff_ts_above_25']:.1e} rel.")
            rows.append(
                [
                    case_title(r),
                    entry["step"],
                    entry["library"],
                    "failed" if entry["seconds"] is None else seconds(entry["seconds"]),
                    mib(entry["peak_rss_mib"]),
                    "" if value is None else ratio(value),
                    ", ".join(diffs),
                ]
            )
        rows.extend([[case_title(r), note, "gammapy", "", "", "", ""] for note in r["notes"]])
    header = ["case", "step", "library", "seconds", "peak RSS MiB", "gammapy / mapds", "gammapy − mapds"]
    return table(header, rows)


def render_catalogue(results: list[dict]) -> str:
    """The grouped catalogue fit beside the joint fit of the same sources."""
    if not results:
        return missing("bench_catalogue", "python benchmarks/bench_catalogue.py")
    rows = []
    for r in results:
        info = r["case_info"]
        width, height = info["npix"]
        title = f"{info['sources']} point sources, {width} × {height} px at {info['binsz_deg']:g}°"
        deviation = r["extra"].get("largest_deviation_sigma")
        for entry in r["steps"]:
            grouped = entry["step"].startswith("catalogue")
            rows.append(
                [
                    title,
                    entry["step"],
                    "failed" if entry["seconds"] is None else seconds(entry["seconds"]),
                    str(entry.get("evaluations", "")),
                    f"{entry['rounds']} ({entry['groups']} groups)" if grouped else "",
                    mib(entry["peak_rss_mib"]),
                    f"{deviation:.3f} σ" if grouped and deviation is not None else "",
                ]
            )
    header = ["case", "step", "seconds", "evaluations", "rounds", "peak RSS MiB", "deviation from joint fit"]
    return table(header, rows)


def render_cloud(results: list[dict]) -> str:
    """Requests, bytes and seconds of each step read from S3 (moto) with an injected latency."""
    if not results:
        return missing("bench_cloud", "python benchmarks/bench_cloud.py")
    kinds = ("get", "head", "list", "put")
    parts = []
    for r in results:
        rows = []
        for s in r["steps"]:
            if "latency_ms" not in s:  # the local writes: no request
                continue
            step = s["step"].split(" (")[0]
            if s["seconds"] is None:
                rows.append([s["format"], f"{s['latency_ms']:g}", step, "failed", "", "", "", "", ""])
                continue
            needed = s.get("bytes_needed")
            rows.append(
                [
                    s["format"],
                    f"{s['latency_ms']:g}",
                    step,
                    str(s["requests"]),
                    " / ".join(str(s[kind]) for kind in kinds) + (f" (+{s['other']})" if s["other"] else ""),
                    size(s["bytes_fetched"]),
                    size(needed),
                    "" if not needed else f"{s['bytes_fetched'] / needed:.2f}",
                    seconds(s["seconds"]),
                ]
            )
        extra = r["extra"]
        files = ", ".join(f"{fmt} {size(n)}" for fmt, n in extra.get("file_bytes", {}).items())
        cutout = next((s for s in r["steps"] if s.get("cutout_shape")), None)
        shape = f" ({cutout['cutout_shape']} voxels)" if cutout else ""
        title = f"**{case_title(r)}**; {files}; cutout {extra['cutout_deg']:g}° square{shape}"
        header = [
            "format",
            "latency ms",
            "step",
            "requests",
            "GET / HEAD / LIST / PUT",
            "bytes fetched",
            "bytes needed",
            "fetched / needed",
            "s",
        ]
        notes = "".join(f"\n\n{note}" for note in r["notes"])
        parts.append(f"{title}\n\n{run_line(r)}\n\n{table(header, rows)}{notes}")
    what = {}
    for s in results[-1]["steps"]:
        if "latency_ms" in s:
            what.setdefault(s["step"].split(" (")[0], s["what"])
    return (
        "\n\n".join(parts)
        + "\n\nWhat each step is:\n\n"
        + table(["step", "mapds"], [[step, text] for step, text in what.items()])
    )


def render_import(results: list[dict]) -> str:
    """``import mapds`` beside ``import gammapy.datasets``, fresh interpreters (``bench_import.py``)."""
    if not results:
        return missing("bench_import", "python benchmarks/bench_import.py --repeat 7")
    rows = []
    for r in results:
        found = ratios(r)
        for s in r["steps"]:
            value = found.get(("gammapy", s["step"])) if s["library"] == "mapds" else None
            rows.append(
                [
                    r["case_info"]["bytecode"],
                    f"`{r['case_info']['statements'][s['library']]}`",
                    "failed" if s["seconds"] is None else seconds(s["seconds"]),
                    seconds(s.get("cpu_seconds")),
                    seconds(s.get("min_seconds")),
                    str(s.get("modules", "")),
                    mib(s.get("peak_rss_mib")),
                    ratio(value),
                ]
            )
    header = [
        "bytecode",
        "python -c",
        "wall s (median)",
        "CPU s (median)",
        "fastest s",
        "modules",
        "peak MiB",
        "gammapy / mapds",
    ]
    runs = "\n\n".join(run_line(r) for r in results)
    return f"{table(header, rows)}\n\n{runs}"


FIT_CRAB_CASE = "fermi_3fhl_crab"


def _fit_status(report: dict) -> str:
    """Why gammapy has no fit in a survey report (skipped, out of memory), or ``""``."""
    return report["extra"].get("gammapy_status") or ""


def _sources(info: dict) -> str:
    n = info["n_models"]
    return f"{n} source{'' if n == 1 else 's'}"


def _fit_cells(entry: dict | None, status: str = "") -> list[str]:
    """Converged, evaluations (MIGRAD's nfev), fit s, s per evaluation, median and first
    evaluation s, peak MiB of one library's fit (or why there is none)."""
    if entry is None or entry["seconds"] is None:
        return [status or (entry or {}).get("error", ""), "", "", "", "", "", ""]
    return [
        "yes" if entry["success"] else "**no**",
        f"{entry['evaluations']} ({entry['nfev']})",
        seconds(entry["seconds"]),
        f"{entry['seconds_per_evaluation']:.3g}",
        f"{entry['median_evaluation_seconds']:.3g}",
        seconds(entry["first_evaluation_seconds"]),
        mib(entry.get("peak_rss_mib")),
    ]


def _fit_agreement(step: str, agreement: dict | None) -> str:
    if not agreement:
        return ""
    worst = agreement.get("max_value_diff_in_errors")
    return (
        f"{step}: total_stat mapds − gammapy = {agreement['total_stat_diff']:.2g} "
        f"({agreement['total_stat_rel_diff']:.1e} relative)"
        + ("" if worst is None else f", best-fit values within {worst:.2g} × gammapy's error")
    )


def render_fit(results: list[dict]) -> str:
    if not results:
        return missing("bench_fit", "python benchmarks/bench_fit.py")
    survey = [r for r in results if r["case"] != FIT_CRAB_CASE]
    crab = [r for r in results if r["case"] == FIT_CRAB_CASE]
    header = [
        "library",
        "converged",
        "evaluations (nfev)",
        "fit s",
        "s / evaluation",
        "median evaluation s",
        "first evaluation s",
        "peak MiB",
        "gammapy / mapds",
    ]
    parts = []
    if survey:
        rows, notes = [], []
        for r in survey:
            step = r["extra"]["fit_step"]
            by_id, value = steps_by_id(r), ratios(r).get(("gammapy", step))
            info = r["case_info"]
            case = f"{short_case(r)}, {_sources(info)}, {info['free_parameters']} free"
            for library in ("mapds", "gammapy"):
                entry = by_id.get(f"{library}:{step}")
                status = _fit_status(r) if library == "gammapy" else ""
                if entry is None and not status:
                    continue
                cells = _fit_cells(entry, status)
                rows.append(
                    [
                        case if library == "mapds" else "",
                        library,
                        *cells,
                        ratio(value) if library == "gammapy" else "",
                    ]
                )
            simulate = by_id.get("mapds:simulate + write fits")
            written = (
                ""
                if not simulate or simulate["seconds"] is None
                else (
                    f"; simulate + write FITS {seconds(simulate['seconds'])} s "
                    f"({size(r['extra'].get('file_bytes'))})"
                )
            )
            agreement = _fit_agreement("agreement", r["extra"].get("agreement"))
            notes.append(
                f"- {short_case(r)}: {run_line(r)[1:-2]}{written}" + (f"; {agreement}" if agreement else "")
            )
        parts.append(
            "**Survey: 3 sources, amplitudes, indices and background norm free**\n\n"
            + table(["survey case", *header], rows)
            + "\n\n"
            + "\n".join(notes)
        )
    for r in crab:
        rows, notes = [], []
        for step in step_names(r):
            by_id, value = steps_by_id(r), ratios(r).get(("gammapy", step))
            for library in ("mapds", "gammapy"):
                entry = by_id.get(f"{library}:{step}")
                if entry is None:
                    continue
                total = "" if entry["seconds"] is None else f"{entry['total_stat']:.3f}"
                rows.append(
                    [
                        step if library == "mapds" else "",
                        library,
                        *_fit_cells(entry),
                        total,
                        ratio(value) if library == "gammapy" else "",
                    ]
                )
            agreement = _fit_agreement(step, r["extra"].get("agreement", {}).get(step))
            if agreement:
                notes.append(f"- {agreement}")
        info = r["case_info"]
        title = (
            f"**Fermi-LAT 3FHL Crab ({info['npix'][0]} × {info['npix'][1]} px × {info['nbin_reco']} "
            f"reco bins): LogParabola amplitude, alpha, beta and background norm free**"
        )
        crab_header = [*header[:-1], "total_stat", header[-1]]
        parts.append(
            f"{title}\n\n{run_line(r)}\n\n{table(['fit', *crab_header], rows)}"
            + ("\n\n" + "\n".join(notes) if notes else "")
        )
    what_rows = {}
    for r in [*survey[-1:], *crab[-1:]]:
        for step in step_names(r):
            kind = re.sub(r"\d+ free parameters", "N free parameters", step)
            cells = [steps_by_id(r).get(f"{lib}:{step}", {}).get("what", "") for lib in ("mapds", "gammapy")]
            what_rows.setdefault(kind, [kind, *cells])
    whats = table(["step", "mapds", "gammapy"], list(what_rows.values()))
    return "\n\n".join(parts) + "\n\nWhat each step is:\n\n" + whats


def render_fit_summary(results: list[dict]) -> str:
    """One row per fit: each library's seconds, evaluations, seconds per evaluation, peak."""
    if not results:
        return missing("bench_fit", "python benchmarks/bench_fit.py")

    def cell(entry: dict | None, status: str = "") -> str:
        if entry is None or entry["seconds"] is None:
            return status or (entry or {}).get("error", "")
        text = (
            f"{seconds(entry['seconds'])} s, {entry['evaluations']} evaluations "
            f"({entry['seconds_per_evaluation']:.3g} s each), {entry['peak_rss_mib'] / 1024:.2f} GiB"
        )
        return text if entry["success"] else text + ", **not converged**"

    rows = []
    for r in sorted(results, key=lambda r: r["case"] == FIT_CRAB_CASE):  # the Crab last
        by_id = steps_by_id(r)
        if r["case"] == FIT_CRAB_CASE:
            fits = [(f"Fermi-LAT Crab, {step}", step, "") for step in step_names(r)]
        else:
            info = r["case_info"]
            label = f"{short_case(r)}: {_sources(info)}, {info['free_parameters']} free parameters"
            fits = [(label, r["extra"]["fit_step"], _fit_status(r))]
        for label, step, status in fits:
            value = ratios(r).get(("gammapy", step))
            rows.append(
                [
                    label,
                    cell(by_id.get(f"mapds:{step}")),
                    cell(by_id.get(f"gammapy:{step}"), status),
                    ratio(value),
                ]
            )
    sources = ", ".join(f"`{r['script']}-{r['case']}.json`" for r in results)
    dates = sorted(r["date"][:10] for r in results)
    return (
        table(["fit (Fit().run)", "mapds", "gammapy", "gammapy / mapds"], rows)
        + f"\n\n_Generated by `benchmarks/report.py` from {sources} in `benchmarks/results/` (runs of "
        f"{dates[0]} to {dates[-1]}). Fit seconds, evaluations of the statistic, and the peak RSS of "
        "the fit's process; each library fits the same file; details in `benchmarks/README.md`._"
    )


# -- the top-level README ---------------------------------------------------------------------------


def _largest(results: list[dict], script: str, keep: Callable[[dict], bool] = lambda r: True) -> dict | None:
    picked = [r for r in results if r["script"] == script and keep(r)]
    return max(picked, key=lambda r: r["case_info"]["voxels"]) if picked else None


def _cell(entry: dict | None, read: str | None = None) -> str:
    """Seconds, peak RSS and (``read``: ``"bytes_read"`` or ``"disk_bytes_read"``) bytes read."""
    if entry is None:
        return ""
    if entry["seconds"] is None:
        return "failed"
    parts = [f"{seconds(entry['seconds'])} s"]
    if entry.get("peak_rss_mib") is not None:
        parts.append(f"{entry['peak_rss_mib'] / 1024:.2f} GiB")
    if read and entry.get(read) is not None:
        parts.append(f"{size(entry[read])} read" + (" from disk" if read == "disk_bytes_read" else ""))
    return ", ".join(parts)


def _with_gammapy(report: dict) -> bool:
    return not report["case"].endswith("_target") and any(s["library"] == "gammapy" for s in report["steps"])


def render_summary(results: list[dict]) -> str:
    """The headline rows: the largest case of each script in the results."""
    rows, used = [], []

    def add(report, step, label=None, read=None, other="gammapy", case_note=""):
        by_id = steps_by_id(report)
        m, g = by_id.get(f"mapds:{step}"), by_id.get(f"{other}:{step}")
        if m is None:
            return
        value = ratios(report).get((other, step))
        note = "" if value is not None or g is None else "no ratio: lazy opens"
        other_cell = _cell(g, read) + (f" ({other})" if g is not None and other != "gammapy" else "")
        first = not used or used[-1] is not report
        if first:
            used.append(report)
        case = short_case(report) + case_note if first else ""
        rows.append([case, label or step, _cell(m, read), other_cell, ratio(value) or note])

    dataset = _largest(results, "bench_dataset", _with_gammapy)
    if dataset:
        for step in DATASET_CASE_RATIO_STEPS:
            add(dataset, step, read="bytes_read" if step.startswith(("open", "read")) else None)
    target = _largest(results, "bench_dataset", lambda r: r["case"].endswith("_target"))
    if target:
        for step in (
            "build + fake, counts sum",
            "build + fake + write zarr",
            "npred cold (zarr)",
            "stat_sum cold (zarr)",
        ):
            add(target, step, case_note=", mapds only (`--target`, zarr)")
    io = _largest(results, "bench_io")
    if io:
        disk = "disk_bytes_read"
        add(io, "open FITS", "open FITS (astropy: fits.open with fsspec)", read=disk, other="astropy")
        add(io, "sum FITS", "open + sum FITS (astropy: section per plane)", read=disk, other="astropy")
        add(io, "sum FITS", "open + sum FITS (gammapy: Map.read)", read=disk)
        add(io, "cutout FITS", "open + cutout sum FITS (astropy: section)", read=disk, other="astropy")
    models = _largest(results, "bench_models")
    if models:
        n = max(models["case_info"]["n_models"])
        add(models, f"build + set-up of every source ({n} sources)")
        add(models, f"build + npred(), all sources ({n} sources)")
    memory = _largest(results, "bench_stat_memory")
    if memory:
        by_id = steps_by_id(memory)
        for step in MEMORY_STEPS:
            if f"mapds:{step}" not in by_id:
                continue
            add(memory, step)
            entry, other = by_id[f"mapds:{step}"], by_id.get(f"gammapy:{step}")
            if entry.get("voxels_per_s"):
                rate = f"{entry['voxels_per_s'] / 1e6:.3g} M/s"
                known = other and other.get("voxels_per_s")
                theirs = f"{other['voxels_per_s'] / 1e6:.3g} M/s" if known else ""
                rows.append(["", "same, reco voxels per second", rate, theirs, ""])
    if not rows:
        return "_No results yet: see benchmarks/README.md._"
    dates = sorted(r["date"][:10] for r in used)
    sources = ", ".join(f"`{r['script']}-{r['case']}.json`" for r in used)
    header = ["survey case", "step", "mapds", "gammapy (or astropy)", "gammapy / mapds"]
    return (
        table(header, rows)
        + f"\n\n_Generated by `benchmarks/report.py` from {sources} in `benchmarks/results/` (runs of "
        f"{dates[0]} to {dates[-1]}): the largest case of each script there. Seconds and peak RSS of the "
        "step's process; ratios only between like steps._"
    )


def _fit_targets(fits: list[dict]) -> list[list[str]]:
    """Rows of the fit targets: the ratio at 80° × 10° (the largest survey fit gammapy ran),
    seconds per evaluation across cube sizes, and the Crab fit's ratio."""
    rows = []
    surveys = sorted((r for r in fits if r["case"] != FIT_CRAB_CASE), key=lambda r: r["case_info"]["voxels"])
    compared = [r for r in surveys if ratios(r).get(("gammapy", r["extra"]["fit_step"])) is not None]
    if compared:
        r = compared[-1]
        step = r["extra"]["fit_step"]
        by_id = steps_by_id(r)
        agreement = r["extra"].get("agreement") or {}
        rows.append(
            [
                "5. the 3-source / 7-parameter fit ≥ 20× faster than gammapy, same best-fit values",
                f"{ratio(ratios(r)[('gammapy', step)])}× ({seconds(by_id[f'mapds:{step}']['seconds'])} s vs "
                f"{seconds(by_id[f'gammapy:{step}']['seconds'])} s); best-fit values within "
                f"{agreement.get('max_value_diff_in_errors', float('nan')):.2g} of gammapy's errors",
                short_case(r),
            ]
        )
    per_evaluation = []
    for r in surveys:
        entry = steps_by_id(r).get(f"mapds:{r['extra']['fit_step']}")
        if entry and entry.get("seconds_per_evaluation"):
            size_label = voxels(r["case_info"]["voxels"])
            per_evaluation.append(f"{entry['seconds_per_evaluation']:.3g} s ({size_label})")
    if per_evaluation:
        rows.append(
            [
                "5. fit: seconds per evaluation flat in cube size",
                ", ".join(per_evaluation),
                f"{short_case(surveys[0])} to {short_case(surveys[-1])}",
            ]
        )
    crab = next((r for r in fits if r["case"] == FIT_CRAB_CASE), None)
    if crab:
        converged = [
            (step, value)
            for (library, step), value in ratios(crab).items()
            if library == "gammapy" and steps_by_id(crab).get(f"mapds:{step}", {}).get("success")
        ]
        if converged:
            step, value = converged[-1]
            measured = f"{ratio(value)}× faster ({step})"
            rows.append(["5. the Crab fit no slower than gammapy's", measured, "Fermi-LAT Crab"])
    return rows


def render_targets(results: list[dict]) -> str:
    """Figures for the performance targets, each with the case it was measured on (no verdicts)."""
    rows = []
    dataset = _largest(results, "bench_dataset", lambda r: not r["case"].endswith("_target"))
    compared = _largest(results, "bench_dataset", _with_gammapy)
    target = _largest(results, "bench_dataset", lambda r: r["case"].endswith("_target"))
    memory = _largest(results, "bench_stat_memory")
    io = _largest(results, "bench_io")
    if dataset:
        by_id = steps_by_id(dataset)
        files = dataset["extra"]["file_bytes"]
        reads = [
            f"{fmt}: {size(by_id[f'mapds:open {fmt}'].get('bytes_read'))} "
            f"of {size(files.get(f'mapds {fmt}'))}"
            for fmt in ("fits", "zarr")
            if f"mapds:open {fmt}" in by_id
        ]
        if reads:
            rows.append(["1. opening reads headers and metadata only", "; ".join(reads), short_case(dataset)])
    if target:
        peaks = [s["peak_rss_mib"] for s in target["steps"] if s.get("peak_rss_mib") is not None]
        rows.append(
            [
                "2. 1e9 voxels with peak RSS ≤ 2 GiB",
                f"peak {max(peaks) / 1024:.2f} GiB over every step",
                short_case(target),
            ]
        )
    for report in (dataset, target):
        if not report:
            continue
        rates = []
        for fmt in ("fits", "zarr"):
            entry = steps_by_id(report).get(f"mapds:stat_sum cold ({fmt})")
            if entry and entry["seconds"]:
                rates.append(f"{fmt} {report['case_info']['voxels'] / entry['seconds'] / 1e6:.3g} M/s")
        if rates:
            rows.append(
                [
                    "3. cold stat_sum from disk ≥ 200 M voxels/s (open + models + statistic)",
                    ", ".join(rates),
                    short_case(report),
                ]
            )
    if memory:
        by_id = steps_by_id(memory)
        labels = (
            "3. cold stat_sum in memory ≥ 700 M voxels/s (models + statistic)",
            "3. stat_sum over every voxel in memory ≥ 700 M voxels/s (statistic)",
        )
        for step, label in zip(MEMORY_STEPS, labels, strict=True):
            entry = by_id.get(f"mapds:{step}")
            if entry and entry.get("voxels_per_s"):
                rate = f"{entry['voxels_per_s'] / 1e6:.3g} M/s (median of {len(entry['repeats'])})"
                rows.append([label, rate, short_case(memory)])
    if compared:
        value = ratios(compared).get(("gammapy", "stat_sum after an amplitude change (fits)"))
        if value is not None:
            rows.append(
                [
                    "4. stat_sum after one change ≥ 50× faster than gammapy at 360° × 18°",
                    f"{ratio(value)}× after an amplitude change",
                    short_case(compared),
                ]
            )
    rows.extend(_fit_targets([r for r in results if r["script"] == "bench_fit"]))
    stacked = _largest(results, "bench_stack", lambda r: not _is_cluster_stack(r))
    if stacked:
        by_id, found = steps_by_id(stacked), ratios(stacked)
        cells = []
        for fmt in ("fits", "zarr"):
            step = f"stack {stacked['case_info']['copies']} datasets from files ({fmt})"
            entry, other = by_id.get(f"mapds:{step}"), by_id.get(f"gammapy:{step.replace('zarr', 'fits')}")
            if entry and entry["seconds"] and other and other["seconds"]:
                relation = "" if (("gammapy", step) in found) else " (gammapy reads FITS)"
                cells.append(
                    f"from {fmt}: {ratio(other['seconds'] / entry['seconds'])}× "
                    f"({seconds(entry['seconds'])} s vs {seconds(other['seconds'])} s{relation}), "
                    f"peak {entry['peak_rss_mib'] / 1024:.2f} GiB vs {other['peak_rss_mib'] / 1024:.2f} GiB"
                )
        if cells:
            rows.append(
                [
                    "6. stacking from files ≥ 4× faster than gammapy, peak ≤ 1.5 GiB",
                    "; ".join(cells),
                    short_case(stacked),
                ]
            )
    if io:
        entry = steps_by_id(io).get("mapds:cutout FITS")
        if entry and entry.get("disk_over_needed") is not None:
            rows.append(
                [
                    "7. a cutout moves ≤ 1.5× the bytes it needs (object storage)",
                    f"{entry['disk_over_needed']:.2f}× from local disk (FITS)",
                    short_case(io),
                ]
            )
    if compared and compared["extra"].get("agreement_rel_diff"):
        worst = max(compared["extra"]["agreement_rel_diff"].values())
        rows.append(
            ["8. npred and stat_sum agree with gammapy to 1e-6", f"≤ {worst:.1e}", short_case(compared)]
        )
    if not rows:
        return "_No results yet._"
    return table(["target", "measured", "on"], rows)


RENDERERS: dict[str, Callable[[list[dict]], str]] = {
    "summary": render_summary,
    "targets": render_targets,
    "runs": render_runs,
    "io": lambda rs: render_io([r for r in rs if r["script"] == "bench_io"]),
    "dataset": lambda rs: render_dataset(
        [r for r in rs if r["script"] == "bench_dataset" and not r["case"].endswith("_target")]
    ),
    "dataset-target": lambda rs: render_dataset_target([r for r in rs if r["script"] == "bench_dataset"]),
    "models": lambda rs: render_models([r for r in rs if r["script"] == "bench_models"]),
    "stat-memory": lambda rs: render_stat_memory([r for r in rs if r["script"] == "bench_stat_memory"]),
    "stack": lambda rs: render_stack([r for r in rs if _is_cluster_stack(r)]),
    "stack-survey": lambda rs: render_stack_survey(
        [r for r in rs if r["script"] == "bench_stack" and not _is_cluster_stack(r)]
    ),
    "fit": lambda rs: render_fit([r for r in rs if r["script"] == "bench_fit"]),
    "fit-summary": lambda rs: render_fit_summary([r for r in rs if r["script"] == "bench_fit"]),
    "cloud": lambda rs: render_cloud([r for r in rs if r["script"] == "bench_cloud"]),
    "estimators": lambda rs: render_estimators([r for r in rs if r["script"] == "bench_estimators"]),
    "catalogue": lambda rs: render_catalogue([r for r in rs if r["script"] == "bench_catalogue"]),
    "import": lambda rs: render_import([r for r in rs if r["script"] == "bench_import"]),
}


def render(text: str, results: list[dict]) -> str:
    """``text`` with every marked table regenerated."""

    def replace(match):
        name = match["name"]
        if name not in RENDERERS:
            raise KeyError(f"unknown table marker bench:table:{name}; known: {', '.join(RENDERERS)}")
        return f"{match['open']}{RENDERERS[name](results).rstrip()}\n{match['close']}"

    return MARKER.sub(replace, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare only: exit 1 (and print a diff) if a README differs from the results",
    )
    parser.add_argument("files", nargs="*", type=Path, default=list(READMES), help="Markdown files to render")
    args = parser.parse_args(argv)
    results = load_results(args.results_dir)
    status = 0
    for path in args.files:
        old = path.read_text()
        if not MARKER.search(old):
            print(f"{path}: no bench:table markers", file=sys.stderr)
            status = 1
            continue
        new = render(old, results)
        if new == old:
            continue
        if args.check:
            status = 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(True),
                    new.splitlines(True),
                    f"{path} (committed)",
                    f"{path} (from the results)",
                )
            )
        else:
            path.write_text(new)
            print(f"rewrote the tables of {path}", file=sys.stderr)
    if args.check and status:
        print(
            "\nThe tables differ from benchmarks/results/*.json: run python benchmarks/report.py "
            "(never edit them by hand).",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())

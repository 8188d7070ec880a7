"""Every code block of the README runs, against files that exist.

The blocks run in order, in one directory prepared as a reader following the README would have it:
``mapds-demo/`` made by the README's demo command (``.venv/bin/mapds demo``, run here with this
environment's ``mapds`` script), gammapy's Fermi-LAT Crab files, and an S3 bucket ``mapds-demo``
(a moto server on 127.0.0.1, reached through the standard ``AWS_ENDPOINT_URL`` variables) holding
copies of both. Python blocks run as scripts; each line of a ``bash`` block runs the ``mapds``
command in-process. The first two bash blocks are the install commands: the test command is what
CI runs, and the demo command is the one that made ``mapds-demo/`` here.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mapds.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```(?P<lang>python|bash)\n(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)
CRAB_FILES = (
    "Fermi-LAT-3FHL_data_Fermi-LAT.fits",
    "Fermi-LAT-3FHL_models.yaml",
    "Fermi-LAT-3FHL_datasets.yaml",
)


def _blocks() -> list[tuple[int, str, str]]:
    """``(line number, language, code)`` of every python and bash block."""
    text = README.read_text()
    return [(text[: m.start()].count("\n") + 1, m["lang"], m["code"]) for m in _BLOCK.finditer(text)]


def _install_blocks() -> list[str]:
    return [code for _, lang, code in _blocks() if lang == "bash" and "pip install" in code]


def test_the_readme_starts_with_the_two_commands():
    demo, tests = _install_blocks()
    assert demo.strip().endswith(".venv/bin/mapds demo")
    assert "pytest" in tests
    first_blocks = [code for _, _, code in _blocks()[:2]]
    assert first_blocks == [demo, tests]


@pytest.fixture
def reader_directory(tmp_path, crab_dir, s3_server, monkeypatch):
    """A directory holding what the README's readers have, with S3 reachable by the usual variables."""
    script = Path(sys.executable).with_name("mapds")
    done = subprocess.run([str(script), "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for name in CRAB_FILES:
        shutil.copy(crab_dir / name, tmp_path / name)
    options = s3_server.storage_options
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", options["secret"])
    import s3fs

    s3 = s3fs.S3FileSystem(**options)
    if not s3.exists("mapds-demo"):
        s3.mkdir("mapds-demo")
    s3.put(str(tmp_path / "mapds-demo" / "survey.fits"), "mapds-demo/survey.fits")
    s3.put(str(tmp_path / CRAB_FILES[0]), f"mapds-demo/{CRAB_FILES[0]}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_bash(line_number: int, code: str) -> None:
    for offset, line in enumerate(code.splitlines()):
        line = line.split(" #")[0].strip()
        if not line:
            continue
        words = shlex.split(line)
        assert words[0] == "mapds", (
            f"README.md:{line_number + offset + 1}: only mapds commands run here: {line}"
        )
        try:
            status = main(words[1:])
        except SystemExit as done:  # --version and --help exit
            status = done.code
        assert status == 0, f"README.md:{line_number + offset + 1}: {line!r} exited with {status}"


def test_every_code_block_runs(reader_directory):
    """One test for all blocks: later blocks use what earlier ones wrote, as a reader's would."""
    install = _install_blocks()
    for line_number, lang, code in _blocks():
        if code in install:
            continue
        if lang == "python":
            namespace = {"__name__": "__readme__"}
            exec(compile(code, f"README.md:{line_number + 1}", "exec"), namespace)
        else:
            _run_bash(line_number, code)

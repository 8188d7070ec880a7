"""The ``mapds`` command as a whole: version, plain-text help, one-line errors, warnings, -v / -q."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import mapds
from mapds.cli import main
from mapds.cli.arguments import chunks_spec, positive_float, storage_option
from mapds.cli.main import COMMANDS, describe
from mapds.errors import CorruptFileError

#: Every subcommand (``npred`` also registers ``residuals``).
SUBCOMMANDS = ["info", "convert", "stack", "npred", "residuals", "fit", "demo"]


def test_every_command_is_listed_in_the_help(capsys):
    assert set(COMMANDS) <= set(SUBCOMMANDS)
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"    {name} " in listed


def test_version(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--version"])
    assert excinfo.value.code == 0
    assert capsys.readouterr().out.strip() == f"mapds {mapds.__version__}"


def test_python_dash_m_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "mapds", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mapds ")


@pytest.mark.parametrize("command", [None, *SUBCOMMANDS])
def test_help_is_plain_text_with_examples(command, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--help"] if command is None else [command, "--help"])
    assert excinfo.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text and ":class:" not in text
    if command is not None:
        assert "examples:" in text and f"mapds {command}" in text.split("examples:")[1]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["demo", "--width", "-1"], "--width: must be a finite number greater than 0, got -1"),
        (["demo", "--binsz", "0"], "--binsz: must be a finite number greater than 0, got 0"),
        (["demo", "--sources", "two"], "--sources: expected a whole number, got 'two'"),
        (["demo", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
    ],
)
def test_usage_errors_are_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "--help" in err


def test_an_error_is_one_line_and_its_traceback_shows_with_verbose(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    argv = ["fit", str(missing), "-o", str(tmp_path / "result.yaml")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mapds fit: error: ") and str(missing) in err
    assert main(["-v", *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("mapds fit: error: ")


def test_describe_names_what_went_wrong():
    assert describe(CorruptFileError("x.zarr: chunk 0.0 is missing")) == "x.zarr: chunk 0.0 is missing"
    assert describe(FileNotFoundError(2, "No such file", "a.fits")) == "no such file or directory: a.fits"
    assert describe(PermissionError(13, "Permission denied", "/root/x")) == "permission denied: /root/x"
    unexpected = describe(RuntimeError("boom\nsecond line"))
    assert unexpected == "RuntimeError: boom (unexpected: rerun with -v for the traceback)"


def test_warnings_are_one_line_and_restored_after(monkeypatch, capsys):
    def run(args):
        warnings.warn("the checksum of x.yaml does not match", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr("mapds.cli.demo.run", run)
    before = warnings.showwarning
    assert main(["demo"]) == 0
    assert capsys.readouterr().err == "mapds demo: warning: the checksum of x.yaml does not match\n"
    assert warnings.showwarning is before


def test_argument_types():
    assert chunks_spec("auto") == "auto"
    assert chunks_spec("256") == 256
    assert chunks_spec("lon=512, lat=-1") == {"lon": 512, "lat": -1}
    assert positive_float("0.02") == 0.02
    assert storage_option("anon=true") == ("anon", True)
    assert storage_option("endpoint_url=http://127.0.0.1:5000") == ("endpoint_url", "http://127.0.0.1:5000")
    assert storage_option("timeout=5") == ("timeout", 5)
    for bad in ("0", "-2", "lon=", "x"):
        with pytest.raises(Exception, match=r"chunk size|name=size"):
            chunks_spec(bad)
    for bad in ("nan", "inf", "-0.1"):
        with pytest.raises(Exception, match="greater than 0"):
            positive_float(bad)

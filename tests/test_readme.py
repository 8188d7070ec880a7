"""The README's runnable examples: every code block marked ``<!-- readme-example: NAME -->`` runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- readme-example: (?P<name>[\w-]+) -->\s*```python\n(?P<code>.*?)```", re.DOTALL)


def _examples() -> dict[str, str]:
    return {m["name"]: m["code"] for m in _BLOCK.finditer(README.read_text())}


def test_readme_has_examples():
    assert _examples()


@pytest.mark.parametrize("name", sorted(_examples()))
def test_readme_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_examples()[name], f"README.md:{name}", "exec"), {"__name__": "__readme__"})

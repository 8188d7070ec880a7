"""File names as gammapy resolves them: environment variables, ``~`` and names relative to a file.

gammapy expands ``$VAR`` in every file name it is given (``make_path``) and, for the file names
written inside a datasets or models YAML file, uses the name joined to the YAML file's directory
when a file exists there.  mapds does the same everywhere a file name is read — every reader (all
go through :func:`mapds.io.urls.resolve`), the datasets and models YAML, templates and covariance
files — and expands ``~`` as well.  URLs (``s3://``, ``https://``, ``memory://``...) are left
alone.

One difference: gammapy leaves an undefined variable in the name (``$GAMMAPY_DATA/x.fits`` then
fails later as a missing file); here it is an :class:`~mapds.errors.UndefinedVariableError`
naming the variable.
"""

from __future__ import annotations

import os
import posixpath
import re

from ..errors import UndefinedVariableError

__all__ = ["is_url", "join", "make_path", "parent", "split"]

#: ``$NAME`` or ``${NAME}`` as ``os.path.expandvars`` recognises them.
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL (has a protocol) rather than a local path."""
    return "://" in path


def make_path(path: str | os.PathLike) -> str:
    """``path`` with environment variables and ``~`` expanded (URLs unchanged).

    Raises
    ------
    UndefinedVariableError
        If the name uses an environment variable that is not set.
    """
    path = os.fspath(path)
    if is_url(path):
        return path
    expanded = os.path.expanduser(os.path.expandvars(path))
    undefined = _VARIABLE.search(expanded)
    if undefined:
        name = undefined.group(1).strip("{}")
        raise UndefinedVariableError(
            f"{path}: the environment variable {name!r} is not set (set it, or write the path out)"
        )
    return expanded


def parent(path: str) -> str:
    """Directory part of a path or URL."""
    return split(path)[0]


def split(path: str) -> tuple[str, str]:
    """``(directory, name)`` of a path or URL."""
    return posixpath.split(path) if is_url(path) else os.path.split(path)


def join(directory: str, name: str) -> str:
    """``name`` (expanded) below ``directory``, or ``name`` itself when it is absolute, a URL or
    there is no directory."""
    name = make_path(name)
    if not directory or is_url(name) or os.path.isabs(name):
        return name
    return posixpath.join(directory, name) if is_url(directory) else os.path.join(directory, name)

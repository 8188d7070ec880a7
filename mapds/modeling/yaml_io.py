"""YAML text in gammapy's layout: 4-space indent, key order kept, creator metadata, checksum.

gammapy dumps with ``yaml.safe_dump(data, sort_keys=False, indent=4, width=80,
default_flow_style=False)`` and appends a ``metadata:`` block (creator, date, origin); with
``checksum=True`` a ``checksum:`` line holds the MD5 of everything above it.  Files are read
as ``yaml.safe_load`` reads them, but with the expansion of aliases bounded: a few hundred bytes
of nested aliases ("billion laughs") stand for billions of nodes, which any walk over the data
(a checksum, an error message, a copy) would then try to visit.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import warnings

import yaml

from ..errors import ModelError

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "YAML_FORMAT",
    "add_checksum",
    "decode_utf8",
    "dump_yaml",
    "load_yaml",
    "metadata_yaml",
]

#: ``yaml.safe_dump`` options giving gammapy's layout.
YAML_FORMAT = {"sort_keys": False, "indent": 4, "width": 80, "default_flow_style": False}
#: Aliases may make a document stand for at most this many times its own nodes (or for
#: ``_MIN_EXPANDED_NODES`` nodes, whichever is larger).  Documents written by gammapy or mapds
#: use aliases rarely, if ever: only when one object appears twice.
MAX_ALIAS_EXPANSION = 20
_MIN_EXPANDED_NODES = 1_000_000
#: Deepest nesting of sequences and mappings read (models files nest about six levels deep).
MAX_DEPTH = 100


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing documents nested deeper than :data:`MAX_DEPTH`.

    PyYAML composes nodes recursively: thousands of ``[`` hit Python's recursion limit only
    after seconds of work, so the depth is counted and bounded while composing.
    """

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def dump_yaml(data: dict) -> str:
    """``data`` as YAML text in gammapy's layout (no metadata)."""
    return yaml.safe_dump(data, **YAML_FORMAT)


def metadata_yaml() -> str:
    """The ``metadata:`` block naming mapds as creator and the current UTC time."""
    try:
        version = importlib.metadata.version("mapds")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        version = "unknown"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return dump_yaml({"metadata": {"creator": f"mapds {version}", "date": now, "origin": None}})


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def add_checksum(text: str) -> str:
    """``text`` followed by a ``checksum:`` line with its MD5 (gammapy's ``checksum=True``)."""
    return text + yaml.safe_dump({"checksum": _md5(text)}, sort_keys=True, indent=4, width=80)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _check_alias_expansion(root: yaml.Node, source: str) -> None:
    """Refuse documents whose aliases expand them beyond :data:`MAX_ALIAS_EXPANSION`.

    Counts the nodes a walk over the constructed data would visit (an alias counts as the whole
    subtree it names), memoised per node so that the count itself stays linear in the document;
    iterative, since hostile documents may be deeply nested.  Recursive aliases are refused too.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
        elif key in on_path:
            raise ModelError(f"{source}: a YAML alias refers to a node that contains it (recursive data)")
        elif key not in sizes:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    limit = max(_MIN_EXPANDED_NODES, MAX_ALIAS_EXPANSION * len(sizes))
    if sizes[id(root)] > limit:
        raise ModelError(
            f"{source}: YAML aliases expand {len(sizes)} nodes into {sizes[id(root)]} (more than "
            f"{limit}); refusing a document that would exhaust memory (an alias bomb?)"
        )


def _parse(text: str, source: str):
    """``yaml.safe_load(text)`` with :func:`_check_alias_expansion` between composing the node
    graph (where aliases are shared nodes, so cheap) and building Python objects."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_alias_expansion(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def decode_utf8(raw: bytes, source: str) -> str:
    """A text file's bytes as text; ``source`` names the file in the error.

    Raises
    ------
    ModelError
        The bytes are not UTF-8 (the message gives the first bad byte and its position).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"{source} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at position {exc.start} "
            "(YAML files must be UTF-8)"
        ) from exc


def load_yaml(text: str | bytes, source: str = "YAML text", checksum: bool = False) -> dict:
    """Parse YAML as ``yaml.safe_load`` does, with alias expansion bounded; the top level must
    be a mapping.

    ``text`` may be the file's bytes, which must be UTF-8.  The ``checksum`` entry is removed;
    with ``checksum=True`` it is verified against the re-dumped content and a mismatch is logged
    as a warning (as gammapy does).

    Raises
    ------
    ModelError
        Not UTF-8, not YAML, not a mapping, unknown tags (python tags included), nested too
        deeply, or aliases expanding beyond :data:`MAX_ALIAS_EXPANSION`.
    """
    if isinstance(text, bytes):
        text = decode_utf8(text, source)
    try:
        data = _parse(text, source)
    except yaml.YAMLError as exc:
        raise ModelError(f"{source} is not valid YAML: {exc}") from exc
    except RecursionError as exc:  # PyYAML constructs recursively too
        raise ModelError(f"{source}: YAML nested too deeply to be read") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{source} must hold a YAML mapping at the top level, got {type(data).__name__}")
    expected = data.pop("checksum", None)
    if checksum and _md5(dump_yaml(data)) != expected:
        warnings.warn(f"Checksum verification failed for {source}", UserWarning, stacklevel=2)
    return data

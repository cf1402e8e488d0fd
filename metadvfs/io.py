"""File input/output: atomic writes (temporary file + rename) and the one YAML/JSON document reader.

Every YAML or JSON file the package reads (device profiles, app profiles, training configs, governor manifests,
checkpoint metadata) goes through :func:`parse_document` / :func:`read_document`: duplicate mapping keys are
rejected (PyYAML and ``json`` silently keep the last one) and every problem is a one-line
:class:`~metadvfs.errors.MetaDVFSError` naming the file and the line.
"""

from __future__ import annotations

import contextlib
import json
import json.decoder
import json.scanner
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from metadvfs.errors import MetaDVFSError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.

    Args:
        path: Final destination.

    Yields:
        The temporary path to write to.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def first_existing_ancestor(path: str | os.PathLike[str]) -> Path | None:
    """The nearest parent directory entry of ``path`` that exists (a file there means ``path`` cannot be made)."""
    return next((p for p in Path(path).parents if p.exists()), None)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and atomically move the result to ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)


# ---------------------------------------------------------------------------------------------- document reading
class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise _DuplicateKeyError(key, key_node.start_mark.line + 1)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


class _DuplicateKeyError(Exception):
    """A mapping repeats a key (``line`` is 1-based)."""

    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


def _key_line(s: str, start: int, end: int, key: str) -> int:
    """1-based line of the second top-level occurrence of ``key`` in the JSON object ``s[start:end]``."""
    depth, i, hits = 0, start, 0
    while i < end:
        c = s[i]
        if c == '"':
            j = i + 1
            while s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            k = j + 1
            while k < end and s[k] in " \t\r\n":
                k += 1
            if depth == 0 and k < end and s[k] == ":" and json.loads(s[i : j + 1]) == key:
                hits += 1
                if hits == 2:
                    return s.count("\n", 0, i) + 1
            i = j + 1
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return s.count("\n", 0, start) + 1  # pragma: no cover (the decoder saw the duplicate inside this span)


_py_make_scanner: Callable[[json.JSONDecoder], Any] = json.scanner.py_make_scanner  # type: ignore[attr-defined]
"""The pure-Python JSON scanner (it calls the decoder's ``parse_object``; typeshed does not list it)."""


class _UniqueKeyDecoder(json.JSONDecoder):
    """JSON decoder that rejects duplicate object keys (``json`` silently keeps the last one)."""

    def __init__(self) -> None:
        super().__init__()
        self.parse_object = self._parse_object
        self.scan_once = _py_make_scanner(self)  # the C scanner does not call parse_object

    @staticmethod
    def _parse_object(s_and_end: tuple[str, int], strict: bool, scan_once: Any, *_: Any, **__: Any) -> Any:
        s, start = s_and_end
        pairs, end = json.decoder.JSONObject(s_and_end, strict, scan_once, None, list, {})  # type: ignore[attr-defined]
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKeyError(k, _key_line(s, start, end, k))
            seen.add(k)
        return dict(pairs), end


def document_format(path: str | os.PathLike[str]) -> str:
    """``json`` for a ``.json`` file, else ``yaml`` (the formats :func:`read_document` reads)."""
    return "json" if Path(path).suffix.lower() == ".json" else "yaml"


def parse_document(text: str, source: str, fmt: str = "yaml") -> Any:
    """Parse YAML or JSON text; a repeated mapping key is an error.

    Args:
        text: The document.
        source: File name (or other origin) for messages.
        fmt: ``yaml`` (safe loader) or ``json``.

    Returns:
        The parsed document (``None`` for an empty YAML document).

    Raises:
        MetaDVFSError: ``<source>: invalid YAML|JSON at line N: <problem>`` or
            ``<source>: duplicate key 'k' at line N``.
    """
    try:
        if fmt == "json":
            return _UniqueKeyDecoder().decode(text)
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKeyError as exc:
        raise MetaDVFSError(f"{source}: duplicate key {exc.key!r} at line {exc.line}") from None
    except json.JSONDecodeError as exc:
        raise MetaDVFSError(f"{source}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise MetaDVFSError(f"{source}: invalid YAML{line}: {problem}") from None


def read_document(path: str | os.PathLike[str], source: str | None = None, fmt: str | None = None) -> Any:
    """Read and parse one YAML or JSON file (devices, apps, configs, manifests, checkpoints).

    Args:
        path: The file.
        source: Name for messages (default: the path).
        fmt: ``yaml`` or ``json`` (default: by the file suffix, see :func:`document_format`).

    Returns:
        The parsed document.

    Raises:
        MetaDVFSError: Missing or unreadable file, a syntax error or a duplicate key (file and line named).
    """
    where = source if source is not None else str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetaDVFSError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetaDVFSError(f"{where}: cannot read file: {exc}") from None
    return parse_document(text, where, fmt or document_format(path))

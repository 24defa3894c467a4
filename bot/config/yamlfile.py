"""Reading the YAML files an organization keeps in Git: one reader for every file, parsed once per process.

The organization config, the severity rubric, the runbooks, the scenarios and the lever file all come
through `read_yaml` (or `load_yaml`, its data only). It uses libyaml's parser when PyYAML was built with
it (`yaml.CSafeLoader`, roughly ten times faster than the pure-Python parser) and the pure-Python
`yaml.SafeLoader` otherwise; both build plain data only, never Python objects.

Why a cache: an app build used to parse every runbook twice with the pure-Python parser, which was most
of the start-up of the bot, the console, the CLI and every test. Parses are kept per process, keyed by
the file's path and a digest of its bytes rather than its modification time: a file rewritten within the
file system's timestamp resolution (tests do this) is parsed again, and reading a few kilobytes to hash
them costs microseconds. Each caller gets its own deep copy of the data, so no caller can change what the
next one reads.

Every document also carries the line of each key path and the duplicate keys (which a plain YAML load
silently resolves to the last value), so validators can name the file, the line and the key.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from bot.core.errors import ConfigError

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_BYTES = 1_000_000  # a configuration file; the largest shipped one is about 12 kB
CACHE_SIZE = 256  # documents; tests write many small files, a deployment reads a few dozen

KeyPath = tuple[Any, ...]
T = TypeVar("T")


class YamlError(ConfigError):
    """A YAML file cannot be read or parsed. The message names the file and, where known, the line."""

    def __init__(self, label: str, line: int | None, reason: str) -> None:
        where = f" line {line}:" if line else ""
        super().__init__(f"{label}:{where} {reason}")
        self.label = label
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class YamlDocument:
    """One parsed file: its data, the line (1-based) where each key path starts, and duplicate keys."""

    data: Any
    lines: Mapping[KeyPath, int]
    duplicates: tuple[tuple[KeyPath, int], ...]

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)


class _Lru:
    """A small thread-safe least-recently-used map (listener threads load scenarios while others run)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_documents = _Lru(CACHE_SIZE)
_checked = _Lru(CACHE_SIZE)


def read_yaml(path: Path, *, label: str | None = None) -> YamlDocument:
    """Read and parse `path` (once per process per content); raise YamlError naming `label` (default: the
    path) and the line. The returned document's data is the caller's own copy."""
    _, doc = _document(path, label or str(path))
    return YamlDocument(copy.deepcopy(doc.data), doc.lines, doc.duplicates)


def load_yaml(path: Path, *, label: str | None = None) -> Any:
    """The data of a YAML file (see read_yaml)."""
    return read_yaml(path, label=label).data


def load_checked(path: Path, check: Callable[[YamlDocument], T], *, label: str | None = None,
                 key: Hashable = ()) -> T:
    """`check(document)` for the file at `path`, computed once per process per file content and `key`
    (whatever else the result depends on, e.g. the known categories). The result is shared by every
    caller, so it must be something nobody changes (frozen dataclasses, tuples); `check` reads the cached
    document and must not change it either. Read errors raise YamlError and are not cached."""
    file_key, doc = _document(path, label or str(path))
    memo = (file_key, label, key)
    found = _checked.get(memo)
    if found is None:
        found = (check(doc),)
        _checked.put(memo, found)
    return found[0]


def _document(path: Path, label: str) -> tuple[tuple[str, str], YamlDocument]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise YamlError(label, None, f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_BYTES:
        raise YamlError(label, None, f"is {len(raw):,} bytes; configuration files are read up to "
                                     f"{MAX_BYTES:,} bytes")
    key = (str(Path(path).resolve()), hashlib.blake2b(raw, digest_size=16).hexdigest())
    doc = _documents.get(key)
    if doc is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlError(label, None, f"cannot read: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        doc = parse_yaml(text, label)
        _documents.put(key, doc)
    return key, doc


def parse_yaml(text: str, label: str) -> YamlDocument:
    """Parse YAML text once (compose the node graph, then build the data from it); not cached."""
    loader = Loader(text)
    lines: dict[KeyPath, int] = {}
    duplicates: list[tuple[KeyPath, int]] = []
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        if node is not None:
            _walk(node, (), lines, duplicates, set())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(label, mark.line + 1 if mark else None, f"not valid YAML: {problem}") from exc
    except RecursionError as exc:
        raise YamlError(label, None, "not valid YAML: nested too deeply") from exc
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # A tagged or date-like value the constructor cannot build (`2026-13-45`, `!!int x`) raises plain
        # Python errors rather than YAMLError.
        raise YamlError(label, None, f"not valid YAML: a value cannot be read ({exc})") from exc
    finally:
        loader.dispose()
    return YamlDocument(data, MappingProxyType(lines), tuple(duplicates))


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], dups: list[tuple[KeyPath, int]],
          seen: set[int]) -> None:
    """Map key paths to lines; note duplicate mapping keys. Each node is visited once, so aliases (which
    share nodes) cannot make the walk loop or grow exponentially; paths through an alias fall back to
    their nearest visited ancestor's line."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "(complex key)"
            if key in keys:
                dups.append((path + (key,), key_node.start_mark.line + 1))
            keys.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, dups, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, dups, seen)

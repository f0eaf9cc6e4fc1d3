"""A YAML reader for untrusted desired-state files that remembers where every value came from.

Why not `yaml.safe_load`: it silently keeps the last of two duplicate keys, forgets line
numbers (so a later schema error cannot point at the source), and expands aliases without
a bound (a few hundred bytes can become gigabytes: the "billion laughs"). Here documents are
*composed* (aliases stay shared references, so composing is linear in the input) and then
walked by hand with a budget on nodes and depth, building plain JSON-like values plus a map
from each value's path to its 1-based (line, column).

Everything that can go wrong becomes a `SpecProblem`; nothing here raises anything else for
any input text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from reconciler.errors import SpecProblem

# Bounds that keep one hostile file from costing more than a few MB and milliseconds.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES_PER_DOCUMENT = 5_000  # a real document has ~40; alias expansion counts in full
MAX_DEPTH = 32
MAX_SCALAR_CHARS = 4_096
# Documents in one file (empty ones count: each costs a parse). 100,000 tiny documents in
# 0.9 MB took 23 s and 590 MB; a generated file of a whole fleet stays well below this.
MAX_DOCUMENTS_PER_FILE = 10_000

Path_ = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)  # libyaml when present
_BOM = "\ufeff"
# C0 controls other than tab/LF/CR, DEL, and C1 controls: never meaningful in a config file.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TAB_IN_INDENT = re.compile(r"^[ ]*\t", re.MULTILINE)

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    _STR_TAG,
}
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_YAML12_BOOLS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
# The scalar constructors are pure functions of the node; one shared instance serves all.
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_CONSTRUCTORS: dict[str, Callable[[yaml.constructor.SafeConstructor, yaml.Node], Any]] = {
    tag: yaml.constructor.SafeConstructor.yaml_constructors[tag] for tag in _SCALAR_TAGS
}
_RESOLVER = yaml.resolver.Resolver()
_CACHED_RESOLVE_CHARS = 128
# The tag every node gets while composing; the walker resolves plain scalars itself.
_UNRESOLVED = "tag:brightback-gitops,2026:unresolved"
_PLAIN = (True, False)  # implicit flags of a plain (unquoted) scalar
_NO_PATH_RESOLVERS: dict[Any, Any] = {}


@lru_cache(maxsize=4096)
def _resolve_scalar(value: str, implicit: tuple[bool, bool]) -> str:
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


def _scalar_tag(node: yaml.ScalarNode) -> str:
    """The node's tag as PyYAML's SafeLoader would resolve it.

    Resolving a plain scalar's tag (is `true` a bool, `0x1F` an int?) runs a list of
    regexes, and a fleet repeats the same keys and values thousands of times. The answer
    depends only on the text (no path resolvers are registered), so it is cached, for short
    scalars only: a hostile file cannot grow the cache past a few hundred KB. A quoted
    scalar is always a string; an explicit tag (`!!int`) is kept as written.
    """
    if node.tag != _UNRESOLVED:
        return str(node.tag)
    if node.style:  # quoted or block: never implicitly typed (plain is "" or None)
        return _STR_TAG
    if len(node.value) <= _CACHED_RESOLVE_CHARS:
        return _resolve_scalar(node.value, _PLAIN)
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, node.value, _PLAIN)  # type: ignore[no-untyped-call]
    return tag


class _ReadLoader(_Loader):  # type: ignore[misc,valid-type]
    """The loader with tag resolution left to the walker.

    libyaml's composer calls the Python-level `resolve` for every node it builds, a tenth
    of the time a fleet takes to load; here `resolve` is a C-level callable returning a
    placeholder tag (`str.format` ignores its arguments), and `_scalar_tag` resolves the
    scalars the walker reads, from a cache. `descend_resolver` and `ascend_resolver`, two
    more Python calls per collection, become C-level no-ops the same way.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.resolve = _UNRESOLVED.format
        # The composer also calls these two around every collection's items, for path
        # resolvers (none are registered): C-level no-ops taking the same arguments.
        self.descend_resolver = _NO_PATH_RESOLVERS.get
        self.ascend_resolver = ().__len__


@dataclass
class Document:
    """One YAML document: its value, where each part of it is, and where it starts."""

    value: Any
    line: int
    column: int
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # Problems found while reading that do not stop the reading (duplicate keys, odd tags):
    # (line, column, field path, message). The document is invalid, but the rest of it is
    # still checked so one run reports everything.
    problems: list[tuple[int, int, Path_, str]] = field(default_factory=list)

    def position_of(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The closest known position for `path`: its key, its value, or an ancestor's."""
        probe = tuple(path)
        if key and probe in self.key_positions:
            return self.key_positions[probe]
        if probe in self.positions:
            return self.positions[probe]
        # A missing field: point at the key of the nearest ancestor that exists.
        while probe:
            probe = probe[:-1]
            if probe in self.key_positions:
                return self.key_positions[probe]
        return self.positions.get((), (self.line, self.column))


class _Budget(Exception):
    """Raised inside the walk when a document exceeds a bound; becomes one SpecProblem."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def decode(data: bytes, filename: str) -> tuple[str | None, list[SpecProblem]]:
    """Bytes to text: strict UTF-8, BOM tolerated, size and control characters checked."""
    if len(data) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        return None, [SpecProblem(filename, 1, 1, "", f"file is larger than {limit} MiB")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        return None, [SpecProblem(filename, line, column, "", message)]
    text = text.removeprefix(_BOM)
    problems: list[SpecProblem] = []
    for match in _CONTROL.finditer(text):
        line, column = _line_col(text, match.start())
        message = f"control character U+{ord(match.group()):04X} is not allowed"
        problems.append(SpecProblem(filename, line, column, "", message))
        break  # one is enough to say the file is damaged
    for match in _TAB_IN_INDENT.finditer(text):
        line, column = _line_col(text, match.end() - 1)
        message = "tab character in indentation; YAML indentation must use spaces"
        problems.append(SpecProblem(filename, line, column, "", message))
    return (None if problems else text), problems


def parse_documents(text: str, filename: str) -> tuple[list[Document], list[SpecProblem]]:
    """Every document in `text`, or the problems that stopped parsing.

    Empty documents (a stray `---` at the end) are skipped. A syntax error ends the file:
    YAML cannot resynchronise after one, so later documents are not guessed at.
    """
    documents: list[Document] = []
    budget_problems: list[SpecProblem] = []
    loader = _ReadLoader(text)
    seen = 0
    try:
        while loader.check_node():
            seen += 1
            if seen > MAX_DOCUMENTS_PER_FILE:
                mark = loader.peek_event().start_mark
                budget_problems.append(
                    SpecProblem(
                        filename,
                        mark.line + 1,
                        mark.column + 1,
                        "",
                        f"file has more than {MAX_DOCUMENTS_PER_FILE} documents; "
                        "split it into several files",
                    )
                )
                break
            node = loader.get_node()
            if node is None:
                continue
            document = Document(
                value=None, line=node.start_mark.line + 1, column=node.start_mark.column + 1
            )
            try:
                document.value = _Walker(document).walk(node, (), 0)
            except _Budget as exc:
                budget_problems.append(SpecProblem(filename, exc.line, exc.column, "", exc.message))
                continue  # the next document is read afresh
            if document.value is not None or document.problems:
                documents.append(document)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        budget_problems.append(SpecProblem(filename, line, column, "", f"invalid YAML: {problem}"))
    except yaml.YAMLError as exc:
        budget_problems.append(SpecProblem(filename, 1, 1, "", f"invalid YAML: {exc}"))
    except RecursionError:
        message = "invalid YAML: nesting is too deep"
        budget_problems.append(SpecProblem(filename, 1, 1, "", message))
    finally:
        loader.dispose()
    return documents, budget_problems


class _Walker:
    """Turns a composed node graph into plain values, counting every node it visits."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.visited = 0

    def walk(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.visited += 1
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if self.visited > MAX_NODES_PER_DOCUMENT:
            raise _Budget(
                f"document has more than {MAX_NODES_PER_DOCUMENT} values "
                "(alias expansion counts in full); refusing to expand it",
                line,
                column,
            )
        if depth > MAX_DEPTH:
            raise _Budget(f"nesting deeper than {MAX_DEPTH} levels", line, column)
        self.document.positions.setdefault(path, (line, column))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, line, column)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        raise _Budget("unsupported YAML node", line, column)  # pragma: no cover

    def _scalar(self, node: yaml.ScalarNode, line: int, column: int) -> Any:
        if len(node.value) > MAX_SCALAR_CHARS:
            raise _Budget(f"value longer than {MAX_SCALAR_CHARS} characters", line, column)
        tag = _scalar_tag(node)
        if tag in (_STR_TAG, _TIMESTAMP_TAG):
            return node.value  # dates in labels stay the text the user wrote
        if tag == _BOOL_TAG and node.value not in _YAML12_BOOLS:
            # YAML 1.1 (PyYAML) reads yes/no/on/off as booleans; YAML 1.2's core schema,
            # which editors and check-jsonschema follow, reads them as strings. Keep the
            # string, so a boolean field given `yes` is a schema error naming the field.
            return node.value
        construct = _SCALAR_CONSTRUCTORS.get(tag)
        if construct is None:
            self._problem(line, column, f"unsupported YAML tag {tag!r}")
            return node.value
        try:
            return construct(_CONSTRUCTOR, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self._problem(line, column, f"invalid value: {exc}")
            return node.value

    def _problem(self, line: int, column: int, message: str, path: Path_ = ()) -> None:
        self.document.problems.append((line, column, path, message))

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit: dict[str, tuple[int, int]] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line, key_column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            # Only `!!merge` or a plain `<<` can be a merge key: the tag of every other key
            # is never needed (keys are used as the text written).
            if key_node.tag == _MERGE_TAG or (
                key_node.value == "<<" and _scalar_tag(key_node) == _MERGE_TAG
            ):
                merged.update(self._merge_source(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_line, key_column, "mapping keys must be plain strings", path)
                continue
            key = key_node.value
            if key in explicit:
                first_line = explicit[key][0]
                self._problem(
                    key_line,
                    key_column,
                    f"duplicate key {key!r} (first defined on line {first_line}); "
                    "YAML would silently keep only the last one",
                    (*path, key),
                )
                continue
            explicit[key] = position = (key_line, key_column)
            child = (*path, key)
            self.document.key_positions[child] = position
            result[key] = self.walk(value_node, child, depth + 1)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_source(self, node: yaml.Node, path: Path_, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in sources:
            value = self.walk(source, path, depth + 1)
            if not isinstance(value, dict):
                line, column = source.start_mark.line + 1, source.start_mark.column + 1
                self._problem(line, column, "'<<' must merge a mapping", path)
                continue
            for key, item in value.items():
                merged.setdefault(key, item)
        return merged


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column

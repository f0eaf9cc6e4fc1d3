"""Load desired state: YAML files in, validated immutable `Desired` values out.

Loading is all-or-nothing: every problem in every file is collected and raised together
in one `SpecError`, and no caller ever gets a partial fleet to act on. Each problem names
the file, line, column and field path, and says what was expected.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reconciler import _schema
from reconciler._yaml import MAX_FILE_BYTES, Document, decode, parse_documents
from reconciler.backend import BackendKind
from reconciler.errors import SpecError, SpecProblem
from reconciler.fields import (
    ACCOUNT_EMAIL,
    BRIGHTBACK_SITE,
    CANCELLATION_VIA_BRIGHTBACK,
    INTEGRATE_VIA,
    PORTAL_CANCELLATION,
    REASON_CODES,
)
from reconciler.model import (
    ConnectionState,
    Credentials,
    DeletionPolicy,
    Desired,
    DesiredConnection,
    FallbackCancelExperience,
    IntegrationMode,
    Management,
    Policy,
    Probe,
    SourceRef,
    _frozen_map,
)

SCHEMA_PATH = _schema.SCHEMA_PATH
API_VERSION = "brightback-gitops/v1alpha1"
KIND = "BrightbackIntegration"
YAML_SUFFIXES = (".yaml", ".yml")
STDIN = "-"
# Documents of ours in the whole config: a fleet of 100,000 sites loads (and is kept in
# memory for the pass) in a few hundred MB; past that, shard the fleet.
MAX_DOCUMENTS = 100_000

__all__ = [
    "API_VERSION",
    "KIND",
    "SCHEMA_PATH",
    "CachedDocument",
    "DocumentCache",
    "LoadResult",
    "desired_from_document",
    "desired_to_document",
    "discover_files",
    "iter_load",
    "load",
    "load_text",
    "load_with_report",
    "validate_document",
]


# The fields the cross-file rules compare, and so the only positions kept after loading.
_FLEET_FIELDS = (("site", "spec.site", "site"), ("name", "metadata.name", "name"))


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A loaded document reduced to what `_fleet_problems` needs.

    The parsed Document (value tree plus a position for every key and value) is dropped as
    soon as its Desired is built: a big fleet must not hold one per site until the
    cross-file checks run (figures: bench/README.md).
    """

    desired: Desired
    filename: str
    positions: tuple[tuple[int, int], ...]  # per _FLEET_FIELDS entry


# What a file's document is kept as between passes (`DocumentCache`): the value the YAML
# reader made, where the document starts (line, column), and the positions of the
# `_FLEET_FIELDS`, the only ones a loaded document keeps.
CachedDocument = tuple[Any, int, int, tuple[tuple[int, int], ...]]


class DocumentCache(Protocol):
    """The documents of files read before, by a digest of the file's bytes.

    A drift job loads the same config every pass; reading YAML was the biggest part of
    loading it. With a cache, a file whose bytes have not changed since a pass that found
    it valid is not parsed again: its documents are still validated and built as a parsed
    file's are, so the cache skips the YAML reader and nothing else. A cached document
    that does not validate any more is read from its file again, so every problem is
    reported at its real position. `reconciler.store.document_cache` keeps one in the
    state directory."""

    def get(self, digest: bytes) -> list[CachedDocument] | None:
        """The documents kept for a file with this digest, or None."""
        ...

    def put(self, digest: bytes, documents: list[CachedDocument]) -> None:
        """Keep the documents of a file with this digest (all of them valid and ours).
        Their values are the YAML reader's: string keys, and strings, numbers, booleans,
        nulls, lists and dicts, which JSON gives back exactly, NaN aside (a cache that
        cannot keep a document keeps nothing of its file)."""
        ...


def file_digest(data: bytes) -> bytes:
    """What a `DocumentCache` knows a file by: 128 bits of BLAKE2b of its bytes."""
    return hashlib.blake2b(data, digest_size=16).digest()


@dataclass(frozen=True)
class LoadResult:
    desired: tuple[Desired, ...]
    skipped: tuple[str, ...]  # files found in directories that hold no document of ours


def load(paths: Sequence[str | Path], *, cache: DocumentCache | None = None) -> list[Desired]:
    """Every document under `paths` (files, directories searched recursively, `-` for stdin).

    Raises SpecError listing every problem found anywhere; returns nothing partial.
    """
    return list(_load_files(paths, [], cache))


def load_with_report(paths: Sequence[str | Path]) -> LoadResult:
    """`load`, also naming the files skipped in directory walks.

    A directory of configuration often holds other tools' YAML too (Pulumi.yaml, CI
    workflows, Kubernetes manifests). In a directory walk, a document that has neither our
    `apiVersion` prefix nor our `kind` is not ours and is skipped; one that has either is
    checked strictly, so a typo in one of the two is an error, never a silent skip. Files
    named explicitly, and stdin, are always strict.
    """
    skipped: list[str] = []
    desired = tuple(_load_files(paths, skipped, None))
    return LoadResult(desired, tuple(skipped))


def iter_load(
    paths: Sequence[str | Path], *, cache: DocumentCache | None = None
) -> Iterator[Desired]:
    """`load`, yielding each valid document's Desired as soon as its file is checked.

    For callers that overlap slow work with loading a large fleet (a reconcile pass starts
    its read-only requests meanwhile). Nothing yielded is trustworthy on its own: only when
    the iterator is exhausted without raising is the config valid. At the end it raises
    the same SpecError `load` would (same problems, same order), so a caller must consume
    it to the end and act on no yielded value before then beyond reading.
    """
    return _load_files(paths, [], cache)


def _load_files(
    paths: Sequence[str | Path], skipped: list[str], cache: DocumentCache | None
) -> Iterator[Desired]:
    """The one loading loop: yield each file's valid documents as it is checked, note the
    files a directory walk skipped, and raise every problem at the end.

    Only each site's and name's first declaration is kept for the cross-file checks, not
    the documents: a pass reading a big fleet while it loads holds no more of the config
    than the sites in flight (memory flat in fleet size)."""
    problems: list[SpecProblem] = []
    declared = _Declared()
    count = 0
    files, missing = _discover(paths)
    problems.extend(missing)
    explicit = {str(Path(p)) for p in paths}
    for name, base_dir, data in _read_all(files, problems):
        strict = name in explicit or name == "<stdin>"
        batch: list[_Loaded] = []
        if not _load_one_file(data, name, base_dir, batch, problems, strict=strict, cache=cache):
            skipped.append(name)
        for entry in batch:
            problems.extend(declared.again(entry))
            yield entry.desired
        count += len(batch)
        if count > MAX_DOCUMENTS:
            message = (
                f"more than {MAX_DOCUMENTS} documents in all (the last read is in this "
                "file); run separate reconcilers (shards) over parts of the config"
            )
            problems.append(SpecProblem(name, 1, 1, "", message))
            break
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.file, p.line, p.column, p.field)))


def load_text(text: str, filename: str = "<string>") -> list[Desired]:
    """Documents from a string, with the same checks as files (used by tests and stdin)."""
    problems: list[SpecProblem] = []
    loaded: list[_Loaded] = []
    _load_one_file(text.encode("utf-8"), filename, os.getcwd(), loaded, problems)  # noqa: PTH109
    problems.extend(_fleet_problems(loaded))
    if problems:
        raise SpecError(problems)
    return [entry.desired for entry in loaded]


def validate_document(doc: Mapping[str, Any], *, filename: str = "<inputs>") -> list[SpecProblem]:
    """Schema and cross-field problems of one document already in memory (Pulumi inputs).

    Positions are unknown for in-memory values, so they are reported as 1:1; the field
    path is what names the property.
    """
    document = Document(value=dict(doc), line=1, column=1)
    return _document_problems(document, filename)


def desired_from_document(
    doc: Mapping[str, Any], *, filename: str = "<inputs>", base_dir: Path | None = None
) -> Desired:
    """A `Desired` from one in-memory document; raises SpecError if it is invalid."""
    problems = validate_document(doc, filename=filename)
    if problems:
        raise SpecError(problems)
    return _build(dict(doc), SourceRef(filename, 1, 1), str(base_dir or Path.cwd()))


def desired_to_document(desired: Desired) -> dict[str, Any]:
    """The YAML document form of `desired`, defaults written out (export, Pulumi inputs)."""
    credentials: dict[str, str] = {}
    if desired.credentials.api_key_env is not None:
        credentials["apiKeyFromEnv"] = desired.credentials.api_key_env
    elif desired.credentials.api_key_file is not None:
        credentials["apiKeyFromFile"] = desired.credentials.api_key_file
    connection: dict[str, Any] = {"state": desired.connection.state.value}
    if desired.wants_connected:
        connection[BRIGHTBACK_SITE.key] = desired.connection.brightback_site
        connection["signUpIfMissing"] = desired.connection.sign_up_if_missing
    if desired.connection.account_email is not None:
        connection[ACCOUNT_EMAIL.key] = desired.connection.account_email
    metadata: dict[str, Any] = {"name": desired.name}
    if desired.labels:
        metadata["labels"] = dict(desired.labels)
    spec: dict[str, Any] = {
        "site": desired.site,
        "credentials": credentials,
        "connection": connection,
    }
    if desired.integrate_via is not None:
        spec[INTEGRATE_VIA.key] = desired.integrate_via.value
    spec[CANCELLATION_VIA_BRIGHTBACK.key] = desired.cancellation_via_brightback
    spec["fallbackCancelExperience"] = {
        PORTAL_CANCELLATION.key: desired.fallback.portal_cancellation,
        REASON_CODES.key: desired.fallback.reason_codes,
    }
    spec["policy"] = {
        "management": desired.policy.management.value,
        "allowDisconnect": desired.policy.allow_disconnect,
        "suspended": desired.policy.suspended,
        "deletionPolicy": desired.policy.deletion_policy.value,
    }
    if desired.policy.toggle_before_publish:  # only when set: older documents hash the same
        spec["policy"]["toggleBeforePublish"] = True
    if desired.probe is not None:
        spec["probe"] = {"subscriptionId": desired.probe.subscription_id}
    if desired.backend is not None:
        spec["backend"] = desired.backend.value
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


# --------------------------------------------------------------------------- files


def discover_files(paths: Sequence[str | Path]) -> tuple[list[str | Path], list[SpecProblem]]:
    """Expand directories (recursively, sorted, *.yaml/*.yml, hidden entries skipped)."""
    found, problems = _discover(paths)
    return [entry if entry == STDIN else Path(entry) for entry, _ in found], problems


# A file (or `-`) and its resolved path, as strings for a directory walk's files: a big
# fleet's list of files is held while it loads, and two Paths cost ~4x two strings.
_Found = tuple[str | Path, str | None]


def _discover(paths: Sequence[str | Path]) -> tuple[list[_Found], list[SpecProblem]]:
    found: list[_Found] = []
    problems: list[SpecProblem] = []
    seen: set[str] = set()
    for raw in paths:
        if str(raw) == STDIN:
            found.append((STDIN, None))
            continue
        path = Path(raw)
        candidates: list[tuple[str | Path, str]]
        if path.is_dir():
            candidates = list(_yaml_files_under(path, problems))
        elif path.is_file():
            candidates = [(path, str(path.resolve()))]
        else:
            problems.append(SpecProblem(str(path), 1, 1, "", _not_a_file(path)))
            continue
        for candidate, resolved in candidates:
            if resolved not in seen:
                seen.add(resolved)
                found.append((candidate, resolved))
    return found, problems


def _not_a_file(path: Path) -> str:
    """Why `path` named on the command line cannot be loaded, in the user's words."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return "broken symbolic link (its target does not exist)"
        return "no such file or directory"
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file: give a file, a directory or -"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file: give a file, a directory or -"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file: give a file, a directory or -"
    return "not a regular file or directory"


def _yaml_files_under(root: Path, problems: list[SpecProblem]) -> list[tuple[str, str]]:
    """Every YAML file below `root` with its resolved path, in `Path` order.

    Nothing under the config is passed over in silence: a site in a directory the walk
    did not see would be taken for an orphan and, with `deletionPolicy: disconnect`,
    disconnected. So a directory that cannot be listed, an entry that cannot be examined,
    a broken symlink or a FIFO with a YAML name are problems (the load fails and nothing is
    applied), and symlinked directories are followed, a link back to a directory of its
    own walk being refused as a loop. Hidden entries (`.git`) are pruned by name.

    What `sorted(root.rglob("*"))` filtered and `.resolve()`d per file would give, at a
    fraction of the system calls (see bench/README.md): a file that is
    not a symlink resolves through its directory's real path, resolved once per directory.
    """
    found: list[tuple[tuple[str, ...], str, str]] = []
    # (relative parts, path as walked, real paths of the directories on the way down)
    pending: list[tuple[tuple[str, ...], str, frozenset[str]]] = [
        ((), str(root), frozenset({os.path.realpath(root)}))
    ]

    def problem(path: str, message: str) -> None:
        problems.append(SpecProblem(path, 1, 1, "", message))

    while pending:
        relative, directory, ancestors = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as exc:
            problem(directory, f"cannot read directory: {exc.strerror}; nothing was applied")
            continue
        real_directory: str | None = None
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    real = os.path.realpath(entry.path) if entry.is_symlink() else None
                    if real is not None and real in ancestors:
                        problem(
                            entry.path,
                            f"symbolic link loop: points at {real}, a directory it is inside",
                        )
                        continue
                    if real is None:
                        real_directory = real_directory or os.path.realpath(directory)
                        real = os.path.join(real_directory, name)  # noqa: PTH118
                    pending.append(((*relative, name), entry.path, ancestors | {real}))
                    continue
                if not name.endswith(YAML_SUFFIXES):
                    continue
                if not entry.is_file():
                    problem(entry.path, _not_a_file(Path(entry.path)))
                    continue
                if entry.is_symlink():
                    resolved = os.path.realpath(entry.path)
                else:
                    real_directory = real_directory or os.path.realpath(directory)
                    resolved = os.path.join(real_directory, name)  # noqa: PTH118 (str: no Path per file)
            except OSError as exc:
                problem(entry.path, f"cannot read: {exc.strerror}")
                continue
            found.append(((*relative, name), entry.path, resolved))
    found.sort(key=lambda item: item[0])
    return [(path, resolved) for _, path, resolved in found]


def _read_all(
    files: Sequence[_Found], problems: list[SpecProblem]
) -> Iterator[tuple[str, str, bytes]]:
    """Each file's bytes, never more than MAX_FILE_BYTES + 1 of them (so `decode` can say
    the file is too large): the size is checked before reading, and stdin, whose size is
    unknown, is read with the same cap (a 2 GB file used to be read whole first)."""
    for entry, resolved in files:
        if entry == STDIN:
            yield "<stdin>", os.getcwd(), sys.stdin.buffer.read(MAX_FILE_BYTES + 1)  # noqa: PTH109
            continue
        name = entry if isinstance(entry, str) else str(entry)
        try:
            data = _read_capped(name)
        except OSError as exc:
            problems.append(SpecProblem(name, 1, 1, "", f"cannot read: {exc.strerror}"))
            continue
        if data is None:
            limit = MAX_FILE_BYTES // (1024 * 1024)
            problems.append(SpecProblem(name, 1, 1, "", f"file is larger than {limit} MiB"))
            continue
        # The directory as a string: a Path per file was a tenth of reading the files, and
        # only an `apiKeyFromFile` document ever joins it (`_build`).
        base_dir = os.path.dirname(resolved or os.path.realpath(name))  # noqa: PTH120
        yield name, base_dir, data


def _read_capped(name: str) -> bytes | None:
    """The file's bytes, or None when it is larger than MAX_FILE_BYTES. Plain system calls
    on the path as a string: a pathlib object and a buffered file per site were a tenth of
    loading a big fleet. Read at its size (+1 to see growth), not the cap: a read of the
    cap allocates 8 MiB per file before shrinking (an mmap and munmap per site)."""
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_FILE_BYTES:
            return None
        # Discovery admits regular files only, and a regular file's read is short only at
        # its end: one read, whose extra byte (if any) says the file grew.
        return os.read(fd, size + 1)
    finally:
        os.close(fd)


def _load_one_file(
    data: bytes,
    filename: str,
    base_dir: str,
    loaded: list[_Loaded],
    problems: list[SpecProblem],
    *,
    strict: bool = True,
    cache: DocumentCache | None = None,
) -> bool:
    """Load one file's documents; False when a lenient walk found none of ours in it."""
    digest = None
    if cache is not None:
        digest = file_digest(data)
        cached = cache.get(digest)
        if cached is not None and _load_cached(cached, filename, base_dir, loaded):
            return True
    text, decode_problems = decode(data, filename)
    problems.extend(decode_problems)
    if text is None:
        return True
    documents, parse_problems = parse_documents(text, filename)
    if not strict and not any(_is_ours(d.value) for d in documents):
        # Nothing of ours parsed. A file that fails to parse but mentions our apiVersion or
        # kind is still ours to report; anything else belongs to another tool.
        if parse_problems and _mentions_us(text):
            problems.extend(parse_problems)
            return True
        return False
    problems.extend(parse_problems)
    # Cached only when every document is ours and valid and the file read cleanly (a hit
    # skips the reading, so its problems too; decoding gives no text when it finds one).
    kept: list[CachedDocument] | None = None
    if cache is not None and not parse_problems and _all_ours(documents):
        kept = []
    for document in documents:
        if not strict and not _is_ours(document.value):
            continue
        document_problems = _document_problems(document, filename)
        problems.extend(document_problems)
        if document_problems:
            kept = None
            continue
        source = SourceRef(filename, document.line, document.column)
        positions = tuple(
            document.position_of(tuple(field.split("."))) for _, field, _ in _FLEET_FIELDS
        )
        desired = _build(document.value, source, base_dir)
        loaded.append(_Loaded(desired, filename, positions))
        if kept is not None:
            kept.append((document.value, document.line, document.column, positions))
    if cache is not None and digest is not None and kept is not None:
        cache.put(digest, kept)
    return True


def _load_cached(
    cached: list[CachedDocument], filename: str, base_dir: str, loaded: list[_Loaded]
) -> bool:
    """Load a file's cached documents as `_load_one_file` loads parsed ones; False (and
    nothing loaded) when one of them is not a valid document of ours any more."""
    batch: list[_Loaded] = []
    for value, line, column, positions in cached:
        document = Document(value=value, line=line, column=column)
        if not _is_ours(value) or _document_problems(document, filename):
            return False
        desired = _build(value, SourceRef(filename, line, column), base_dir)
        batch.append(_Loaded(desired, filename, positions))
    loaded.extend(batch)
    return True


def _all_ours(documents: list[Document]) -> bool:
    return bool(documents) and all(_is_ours(document.value) for document in documents)


def _is_ours(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    api_version, kind = value.get("apiVersion"), value.get("kind")
    return (isinstance(api_version, str) and api_version.startswith("brightback-gitops/")) or (
        kind == KIND
    )


def _mentions_us(text: str) -> bool:
    """A file that fails to parse is ours to report if it mentions our apiVersion or kind."""
    return "brightback-gitops/" in text or KIND in text


# --------------------------------------------------------------------------- checks


def _document_problems(document: Document, filename: str) -> list[SpecProblem]:
    def problem(path: tuple[str | int, ...], message: str, *, key: bool = False) -> SpecProblem:
        line, column = document.position_of(path, key=key)
        return SpecProblem(filename, line, column, _dotted(path), message)

    reading = [
        SpecProblem(filename, line, column, _dotted(path), message)
        for line, column, path, message in document.problems
    ]
    value = document.value
    if not isinstance(value, dict):
        if reading:
            return reading
        return [problem((), "a document must be a mapping with apiVersion, kind, metadata, spec")]
    foreign = _foreign_document(value)
    if foreign is not None:
        # Another kind of file (a saved plan, a Kubernetes manifest): say what it is once,
        # instead of a schema problem for every field it lacks or has.
        return reading or [problem((), foreign)]
    problems = [
        problem(
            path,
            "looks like an API key: inline keys are not allowed; reference it with "
            "credentials.apiKeyFromEnv or credentials.apiKeyFromFile",
        )
        for path in _key_like_paths(value, ())
    ]
    # Schema messages never echo a key-like value (see _schema.render), so checking goes on;
    # the field already reported as an inline key is not reported twice.
    flagged = {p.field for p in problems}
    for issue in _schema.schema_issues(value):
        if _dotted(issue.path) not in flagged:
            problems.append(problem(issue.path, issue.message, key=issue.key))
    return list(dict.fromkeys(reading + problems))  # one message per problem


def _foreign_document(value: Mapping[str, Any]) -> str | None:
    """What a document that is clearly not desired state is, or None when it may be ours.

    Ours, or possibly ours with typos: our apiVersion prefix or kind, or a spec or metadata
    with neither apiVersion nor kind (a forgotten header); those get the full schema check.
    """
    if _is_ours(value):
        return None
    fmt = value.get("format")
    if isinstance(fmt, str) and fmt.startswith("brightback-gitops/saved-plan/"):
        return (
            "this is a saved plan (brightback plan --out), not desired state: apply it with "
            "`brightback apply FILE`, or read it with `brightback show FILE`"
        )
    api_version, kind = value.get("apiVersion"), value.get("kind")
    if isinstance(kind, str) or isinstance(api_version, str):
        what = " ".join(str(v) for v in (kind, f"({api_version})" if api_version else None) if v)
        return (
            f"this is a {what} document, not desired state: expected apiVersion "
            f"{API_VERSION} and kind {KIND}"
        )
    if "spec" in value or "metadata" in value:
        return None
    return (
        f"not a {KIND} document (it has none of apiVersion, kind, metadata, spec): "
        f"expected apiVersion {API_VERSION} and kind {KIND}"
    )


def _key_like_paths(value: Any, path: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    """Paths of the keys and values in `value` that look like API keys, in document order.

    The order and result of `iter_key_paths` filtered by `looks_like_api_key`, without
    building a path for every scalar: a key-like string contains `live_` or `test_`, so
    only those few are checked in full.
    """
    found: list[tuple[str | int, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(key, str) and _may_be_key(key):
            found.append((*path, key))
        if isinstance(item, dict | list):
            found.extend(_key_like_paths(item, (*path, key)))
        elif isinstance(item, str) and _may_be_key(item):
            found.append((*path, key))
    return found


def _may_be_key(text: str) -> bool:
    return ("live_" in text or "test_" in text) and _schema.looks_like_api_key(text)


class _Declared:
    """Where each site and each name was first declared, for `_fleet_problems`' rules
    checked one document at a time."""

    def __init__(self) -> None:
        self._first: list[dict[str, tuple[str, int]]] = [{} for _ in _FLEET_FIELDS]

    def again(self, entry: _Loaded) -> list[SpecProblem]:
        """The problems of `entry` declaring a site or name declared before."""
        problems: list[SpecProblem] = []
        for index, (attribute, field, noun) in enumerate(_FLEET_FIELDS):
            key = getattr(entry.desired, attribute)
            line, column = entry.positions[index]
            first = self._first[index].setdefault(key, (entry.filename, line))
            if first == (entry.filename, line):
                continue
            problems.append(
                SpecProblem(
                    entry.filename,
                    line,
                    column,
                    field,
                    f"{noun} {key!r} is already declared at {first[0]}:{first[1]}; "
                    f"each {noun} may be declared once",
                )
            )
        return problems


def _fleet_problems(loaded: Sequence[_Loaded]) -> list[SpecProblem]:
    """Rules across documents: one document per site, one per name."""
    declared = _Declared()
    return [problem for entry in loaded for problem in declared.again(entry)]


# --------------------------------------------------------------------------- building


def _build(doc: Mapping[str, Any], source: SourceRef, base_dir: str) -> Desired:
    """A Desired from a document that has passed validation (so keys and types are right)."""
    metadata, spec = doc["metadata"], doc["spec"]
    credentials = spec["credentials"]
    key_file = credentials.get("apiKeyFromFile")
    connection = spec["connection"]
    fallback = spec.get("fallbackCancelExperience", {})
    policy = spec.get("policy", {})
    probe = spec.get("probe")
    mode = spec.get(INTEGRATE_VIA.key)
    email = connection.get(ACCOUNT_EMAIL.key)
    return Desired(
        name=metadata["name"],
        site=spec["site"],
        credentials=Credentials(
            api_key_env=credentials.get("apiKeyFromEnv"),
            api_key_file=str(Path(base_dir, key_file)) if key_file is not None else None,
        ),
        connection=DesiredConnection(
            state=ConnectionState(connection["state"]),
            brightback_site=connection.get(BRIGHTBACK_SITE.key),
            account_email=email.strip().lower() if email else None,
            sign_up_if_missing=bool(connection.get("signUpIfMissing", False)),
        ),
        integrate_via=IntegrationMode(mode) if mode else None,
        cancellation_via_brightback=bool(spec.get(CANCELLATION_VIA_BRIGHTBACK.key, False)),
        fallback=FallbackCancelExperience(
            portal_cancellation=bool(fallback.get(PORTAL_CANCELLATION.key, True)),
            reason_codes=bool(fallback.get(REASON_CODES.key, True)),
        ),
        policy=Policy(
            management=Management(policy.get("management", "full")),
            allow_disconnect=bool(policy.get("allowDisconnect", False)),
            suspended=bool(policy.get("suspended", False)),
            deletion_policy=DeletionPolicy(policy.get("deletionPolicy", "orphan")),
            toggle_before_publish=bool(policy.get("toggleBeforePublish", False)),
        ),
        labels=_frozen_map(metadata.get("labels")),
        probe=Probe(subscription_id=probe["subscriptionId"]) if probe else None,
        source=source,
        backend=BackendKind(spec["backend"]) if spec.get("backend") else None,
    )


_REDACTED_FIELD = "<key-like name>"


def _dotted(path: Sequence[str | int]) -> str:
    """`spec.connection.state`; a field *named* like an API key is not spelled out."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = _REDACTED_FIELD if _schema.looks_like_api_key(part) else part
        out += f".{name}" if out else name
    return out

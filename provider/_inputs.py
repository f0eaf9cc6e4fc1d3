"""Pulumi inputs <-> the YAML document: validation, normalization and the diff rules.

The inputs of a `BrightbackIntegration` are the fields of a YAML document's `spec`, plus
`name` (and optionally `labels` / `annotations`) from its `metadata`, plus the provider
`version`. Everything here is pure, so `check` and `diff` cost microseconds and can be
tested without a server.

Normalization is what keeps `pulumi preview` quiet: `check` returns the document the
engine actually means (defaults written out, the account email lower-cased, fields that
have no meaning in the chosen state dropped), so the inputs stored in state are exactly
what the next `check` produces from the same program, and never differ only in spelling.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.output import Unknown

from reconciler.errors import SpecError, SpecProblem
from reconciler.fields import FIELDS
from reconciler.model import Desired
from reconciler.rules import Attachment, DisconnectReason, disconnect_reasons
from reconciler.spec import (
    API_VERSION,
    KIND,
    desired_from_document,
    desired_to_document,
    validate_document,
)

PROVIDER_KEY = "__provider"
UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN

# Bump when the provider's behaviour changes in a way existing resources should be
# updated for (new outputs, a fixed apply). The class is pickled by reference, so a code
# change alone never reaches `pulumi up` as a diff; this input does (pulumi#16826).
PROVIDER_VERSION = "1"

METADATA_KEYS = ("name", "labels", "annotations")
# The spec's top-level keys: the integration settings come from the field table.
SPEC_KEYS = (
    "site",
    "credentials",
    *dict.fromkeys(f.prop.split(".")[0] for f in FIELDS),
    "policy",
    "probe",
)
VERSION_KEY = "version"
INPUT_KEYS = (*METADATA_KEYS, *SPEC_KEYS, VERSION_KEY)


def is_unknown(value: Any) -> bool:
    """True if `value` holds a value Pulumi does not know yet (preview), at any depth."""
    if isinstance(value, Unknown) or value == UNKNOWN_WIRE:
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return False


def document_from_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML document the inputs stand for (no validation)."""
    metadata = {k: inputs[k] for k in METADATA_KEYS if inputs.get(k) is not None}
    spec = {k: inputs[k] for k in SPEC_KEYS if inputs.get(k) is not None}
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def inputs_from_document(doc: Mapping[str, Any], version: str = PROVIDER_VERSION) -> dict[str, Any]:
    """Resource inputs from a document (the YAML helper and the normalizer)."""
    metadata = doc.get("metadata", {})
    spec = doc.get("spec", {})
    inputs: dict[str, Any] = {k: metadata[k] for k in METADATA_KEYS if k in metadata}
    inputs.update({k: spec[k] for k in SPEC_KEYS if k in spec})
    inputs[VERSION_KEY] = version
    return inputs


def property_of(field: str) -> str:
    """The input property a spec field path names: `spec.connection.state` -> `connection.state`."""
    for prefix in ("spec.", "metadata."):
        if field.startswith(prefix):
            return field[len(prefix) :]
    if field in ("spec", "metadata"):
        return ""
    return field


@dataclass(frozen=True)
class Checked:
    """`check`'s answer: the inputs to store, or the problems found (never both)."""

    inputs: dict[str, Any]
    failures: tuple[tuple[str, str], ...]  # (property, reason)


def check_inputs(news: Mapping[str, Any]) -> Checked:
    """Validate with the project's JSON Schema and normalize.

    Inputs that still hold unknowns (a preview of a program that computes them) are
    returned as they are: they are checked again, known, before any create or update.
    """
    inputs = {k: v for k, v in news.items() if k != PROVIDER_KEY}
    unexpected = sorted(k for k in inputs if k not in INPUT_KEYS)
    failures = [
        (k, f"unknown property {k!r}; expected one of {', '.join(INPUT_KEYS)}") for k in unexpected
    ]
    version = inputs.get(VERSION_KEY, PROVIDER_VERSION)
    if not is_unknown(version) and not isinstance(version, str):
        failures.append((VERSION_KEY, "must be a string"))
    if failures:
        return Checked(inputs, tuple(failures))
    if is_unknown(inputs):
        return Checked(inputs, ())
    document = document_from_inputs(inputs)
    problems = validate_document(document)
    if problems:
        return Checked(inputs, tuple((property_of(p.field), p.message) for p in problems))
    desired = desired_from_document(document)
    normalized = inputs_from_document(desired_to_document(desired), version)
    # The loader resolves apiKeyFromFile against a directory; keep the reference exactly as
    # written so state does not depend on where `pulumi up` ran.
    normalized["credentials"] = dict(inputs["credentials"])
    if "annotations" in inputs:
        normalized["annotations"] = inputs["annotations"]
    return Checked(normalized, ())


def desired_from_inputs(inputs: Mapping[str, Any]) -> Desired:
    """A `Desired` from stored inputs or outputs (whose input keys are inputs)."""
    present = {k: inputs[k] for k in INPUT_KEYS if k in inputs}
    if "site" not in present or "name" not in present:
        raise SpecError(
            [
                SpecProblem(
                    "<inputs>", 1, 1, "", "the resource's state holds no site; it cannot be read"
                )
            ]
        )
    return desired_from_document(document_from_inputs(present))


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class Difference:
    changes: tuple[str, ...]
    replaces: tuple[str, ...]


def _attachment(props: Mapping[str, Any], *, fallback: Attachment | None = None) -> Attachment:
    """The attachment a set of inputs asks for; a value Pulumi does not know yet counts as
    unchanged from `fallback` (a replacement is only announced when it is certain)."""
    connection = props.get("connection")
    fields = connection if isinstance(connection, Mapping) else {}

    def known(value: Any, before: Any) -> Any:
        return before if is_unknown(value) else value

    site = fields.get("brightbackSite")
    email = fields.get("accountEmail")
    return Attachment(
        connected=fields.get("state") == "connected",
        brightback_site=known(site, fallback.brightback_site if fallback else None),
        account_email=None if is_unknown(email) else email,
        toggle=props.get("cancellationViaBrightback") is True,
    )


# A reason a disconnect is needed -> the property whose change causes it.
_REPLACED_BY: dict[DisconnectReason, str] = {
    DisconnectReason.OTHER_BRIGHTBACK_SITE: "connection",  # rule 3: another Brightback site
    DisconnectReason.OTHER_ACCOUNT: "connection",  # rule 1: another Brightback account
    DisconnectReason.TOGGLE_OFF: "cancellationViaBrightback",  # rule 9
}


def _replacements(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Iterator[str]:
    """Properties whose change needs a disconnect first (`reconciler.rules`): a change
    between two connected states that the product allows only by reconnecting."""
    if olds.get("site") != news.get("site") and not is_unknown(news.get("site")):
        yield "site"  # another Chargebee site is another resource
    have = _attachment(olds)
    want = _attachment(news, fallback=have)
    if not (have.connected and want.connected):
        return  # connecting or disconnecting is an update, not a replacement
    for reason in disconnect_reasons(have, want):
        yield _REPLACED_BY[reason]


def diff_inputs(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Difference:
    """Compare previous outputs (`olds`: their input keys) with checked new inputs.

    Unknown new values count as changes, never as replacements: a replacement is only
    announced when it is certain.
    """
    changes = tuple(k for k in INPUT_KEYS if olds.get(k) != news.get(k) or is_unknown(news.get(k)))
    replaces = tuple(dict.fromkeys(_replacements(olds, news))) if changes else ()
    return Difference(changes, replaces)

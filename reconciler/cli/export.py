"""`brightback export --site NAME...`: adopt what already exists.

Reads each site's live integration and writes the YAML document that keeps it exactly as
it is, so a team can commit its current fleet and start reviewing changes from there:
planning the exported file plans nothing. Credentials are written as references (an
environment variable or file name built from a template), never as keys. With
`--backend console` the sites are read from their admin console pages, and each document
says `backend: console`, so planning it goes the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import yaml

from reconciler.backend import BackendKind
from reconciler.cli._backend import Routed, add_backend_arguments
from reconciler.credentials import redact
from reconciler.engine import Observation, for_each_site, observe
from reconciler.fields import printable
from reconciler.model import ConnectionState, Credentials, Desired, DesiredConnection
from reconciler.rules import desired_from_live
from reconciler.spec import desired_from_document, desired_to_document

DEFAULT_KEY_ENV = "{SITE}_CHARGEBEE_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site", action="append", required=True, metavar="NAME", help="Chargebee site"
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--key-env",
        default=DEFAULT_KEY_ENV,
        metavar="TEMPLATE",
        help="env var holding each site's key; {site} and {SITE} (upper, - as _) are "
        f"replaced (default {DEFAULT_KEY_ENV})",
    )
    keys.add_argument(
        "--key-file", metavar="TEMPLATE", help="file holding each site's key, e.g. keys/{site}"
    )
    parser.add_argument(
        "--name", default="{site}", metavar="TEMPLATE", help="metadata.name (default {site})"
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--api-url", metavar="TEMPLATE", help="per-site API URL template")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="per-request read timeout (default 30)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="sites read at once (default 4)"
    )
    add_backend_arguments(parser)


def _fill(template: str, site: str) -> str:
    return template.replace("{site}", site).replace("{SITE}", site.upper().replace("-", "_"))


def credentials_for(site: str, key_env: str, key_file: str | None) -> Credentials:
    if key_file is not None:
        return Credentials(api_key_file=str(Path(_fill(key_file, site)).resolve()))
    return Credentials(api_key_env=_fill(key_env, site))


def _document(desired: Desired) -> dict[str, Any]:
    document = desired_to_document(desired)
    desired_from_document(document)  # never write a document `validate` would reject
    return document


def run(args: argparse.Namespace) -> int:
    documents: list[dict[str, Any]] = []
    failed = 0
    probes = [
        Desired(
            name=_fill(args.name, site),
            site=site,
            credentials=credentials_for(site, args.key_env, args.key_file),
            connection=DesiredConnection(ConnectionState.DISCONNECTED),
        )
        for site in args.site
    ]
    routed = Routed(args, writes=False)
    with closing(routed):
        routed.prepare(probes)

        def look(probe: Desired) -> Observation:
            return observe(routed, probe, patient=False)

        for probe, seen in zip(probes, for_each_site(probes, look, args.concurrency), strict=True):
            if seen.live is None:
                # The peer wrote this text: neutralised and redacted like every other output.
                print(printable(redact(f"error: {probe.site}: {seen.error}")), file=sys.stderr)
                failed += 1
                continue
            found = desired_from_live(seen.live, probe.name, probe.credentials)
            if routed.kind_of(probe) is BackendKind.CONSOLE:
                found = dataclasses.replace(found, backend=BackendKind.CONSOLE)
            documents.append(_document(found))
    text = yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {len(documents)} document(s) to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if failed else 0


__all__ = [
    "DEFAULT_KEY_ENV",
    "add_arguments",
    "credentials_for",
    "run",
]

"""A hostile answer fails its own site, never the run.

Before: a deeply nested 200 KB JSON body raised RecursionError out of the client and the
run ended with no report; a body had no size limit at all.
"""

from __future__ import annotations

import gzip
import json
import secrets

import pytest

from reconciler import _peer_json
from reconciler.client import ReadOnlyClient
from reconciler.errors import ApiError
from tests.engine._builders import desired
from tests.engine.conftest import Fleet, document
from tests.fleet._stored import has_report
from tests.hardening._hostile import hostile_peer, json_answer

NESTED = b"[" * 100_000 + b"]" * 100_000  # 200 KB
KEY = "test_" + secrets.token_hex(12)  # made per run: no key-shaped literal in the repository


def read_with(monkeypatch: pytest.MonkeyPatch, url_template: str) -> None:
    monkeypatch.setenv("ACME_KEY", KEY)
    monkeypatch.setenv("BRIGHTBACK_API_URL", url_template)
    with ReadOnlyClient() as client:
        client.read(desired("acme"))


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (json_answer(NESTED), "nested deeper than"),
        (json_answer(b'{"a":' * 70 + b"1" + b"}" * 70), "nested deeper than"),
        (json_answer(b"[" + b"0," * 3_000_000 + b"0]"), "larger than"),
        (json_answer(NESTED, status=500), "without a Chargebee error body"),
        (
            json_answer(gzip.compress(b" " * 50_000_000), headers={"Content-Encoding": "gzip"}),
            "larger than",
        ),
        (json_answer(b"", headers={"Content-Length": str(2**40)}), "larger than"),
    ],
    ids=["nested-200KB", "nested-70", "6MB", "nested-error", "gzip-bomb", "declared-1TB"],
)
def test_a_poison_answer_is_that_sites_error_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, answer: object, says: str
) -> None:
    with hostile_peer() as peer:
        peer.answers["acme"] = answer  # type: ignore[assignment]
        with pytest.raises(ApiError) as caught:
            read_with(monkeypatch, peer.url_template)
    assert caught.value.api_error_code == "unexpected_response"
    assert says in str(caught.value)
    # A poison 200 is not retried (the same peer gives the same answer); a 500 is, as any.
    assert len(peer.requests) == (5 if "error" in says else 1)


def test_an_ordinary_nested_answer_still_parses() -> None:
    value = {"a": [{"b": {"c": [1, 2, {"d": None}]}}]}
    assert _peer_json.loads(json.dumps(value).encode()) == value


@pytest.mark.e2e
def test_one_hostile_site_fails_alone_and_the_report_is_written(fleet: Fleet) -> None:
    with hostile_peer() as peer:
        peer.answers["evil"] = json_answer(NESTED)
        fleet.env.update(EVIL_CHARGEBEE_API_KEY=KEY, OTHER_CHARGEBEE_API_KEY=KEY)
        fleet.write("sites.yaml", document("evil") + "---\n" + document("other"))

        result = fleet.cli(
            "reconcile", "sites.yaml", "--state-dir", "state", "--format", "json",
            env={"BRIGHTBACK_API_URL": peer.url_template},
        )  # fmt: skip

    assert result.code == 1, result.stderr
    assert "Traceback" not in result.output
    sites = {s["name"]: s for s in json.loads(result.stdout)["sites"]}
    assert sites["evil-live"]["status"] == "failed"
    assert "nested deeper than 64 levels" in sites["evil-live"]["error"]
    assert sites["other-live"]["conditions"][0]["reason"] == "resource_not_found"
    assert has_report(fleet)  # whichever store the fleet runs on

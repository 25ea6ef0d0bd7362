"""``/metrics`` on a real server: after a push, a pull, token refusals and a GC run, each
counter moved; the labels hold no names; ``/metrics`` is no portal page and needs no session.

The package's server (``conftest.py``): every test compares the counters before and after
what it does, so they stay independent.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.pushing import Pusher
from tests.api.test_gc_api import MANUAL_DRY, start, wait_done
from tests.harness import Harborlite

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: Harborlite) -> Samples:
    answer = httpx.get(f"{server.url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_is_prometheus_text_open_and_no_portal_page(observed: Harborlite) -> None:
    with httpx.Client(base_url=observed.url, timeout=10) as client:
        client.cookies.set("harbor_session", "a-session-that-does-not-exist")
        answer = client.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        # not the portal: no page headers, no stale-cookie clearing, no catch-all 404 page
        assert "content-security-policy" not in answer.headers
        assert "set-cookie" not in answer.headers
        assert answer.headers["x-request-id"]
        names = {family.name for family in text_string_to_metric_families(answer.text)}
        assert {
            "harborlite_http_requests",
            "harborlite_http_request_duration_seconds",
            "harborlite_proxied_bytes",
            "harborlite_upstream_latency_seconds",
            "harborlite_tokens_issued",
            "harborlite_tokens_refused",
            "harborlite_audit_write_seconds",
            "harborlite_manifest_cache_lookups",
            "harborlite_job_executions",
            "harborlite_storage_served_bytes",
            "harborlite_storage_sent_bytes",
            "process_resident_memory_bytes",
        } <= names, names
        assert client.head("/metrics").status_code == 200
        refused = client.post("/metrics")
        assert refused.status_code == 405
        assert refused.json()["errors"][0]["code"] == "METHOD_NOT_ALLOWED"


def test_a_push_and_a_pull_move_their_counters(observed: Harborlite) -> None:
    project = observed.unique("obsproj")
    repository = f"{project}/app"
    before = scrape(observed)
    observed.create_project(project)
    with Pusher(observed) as pusher:
        pushed = pusher.image(repository, "v1")
        headers = pusher._headers(repository)
        accept = {**headers, "Accept": "application/vnd.oci.image.manifest.v1+json"}
        # the push fills the cache in the background: a tag never pushed is a sure miss
        missing = pusher.client.get(f"/v2/{repository}/manifests/never-pushed", headers=accept)
        assert missing.status_code == 404, missing.text
        for _ in range(3):  # the registry or the cache first, then this process's memory
            pulled = pusher.client.get(f"/v2/{repository}/manifests/v1", headers=accept)
            assert pulled.status_code == 200, pulled.text
        layer = pulled.json()["layers"][0]
        # a tag list is always the registry's answer (the manifests may all come from the cache)
        listed = pusher.client.get(f"/v2/{repository}/tags/list", headers=headers)
        assert listed.status_code == 200, listed.text
        blob = pusher.client.get(f"/v2/{repository}/blobs/{layer['digest']}", headers=headers)
        assert blob.status_code == 200
    after = scrape(observed)

    def delta(name: str, **labels: str) -> float:
        return moved(before, after, name, **labels)

    requests = "harborlite_http_requests_total"
    assert delta(requests, surface="v2", method="PUT", status="201") >= 3  # 2 blobs, manifest
    assert delta(requests, surface="v2", method="GET", status="200") >= 4
    assert delta(requests, surface="api", method="POST", status="201") == 1  # the project
    assert delta(requests, surface="token", method="GET", status="200") >= 1
    assert delta("harborlite_http_request_duration_seconds_count", surface="v2") >= 7
    # the blobs are written into the registry's folder by harborlite (direct uploads, on by
    # default with the embedded registry), the manifest is proxied
    blobs = delta("harborlite_direct_upload_bytes_total")
    assert blobs > 0
    manifest = delta("harborlite_proxied_bytes_total", direction="to_registry")
    assert manifest >= len(pushed.manifest)
    assert blobs + manifest >= pushed.size
    assert delta("harborlite_proxied_bytes_total", direction="to_client") > 0
    assert delta("harborlite_upstream_latency_seconds_count", method="PUT") >= 1  # manifest
    assert delta("harborlite_tokens_issued_total", caller="user") >= 1
    assert delta("harborlite_audit_write_seconds_count") >= 2  # the project, the push
    assert delta("harborlite_manifest_cache_lookups_total", result="miss") >= 1
    assert delta("harborlite_manifest_cache_lookups_total", result="hit") >= 1
    assert delta("harborlite_registry_answers_total", via="cache") >= 1
    assert delta("harborlite_registry_answers_total", via="proxy") >= 1
    assert delta("harborlite_registry_answers_total", via="direct") >= 4  # 2 POST, 2 PUT
    assert delta("harborlite_storage_served_bytes_total") >= layer["size"]
    # one download at a time: its bytes went by copies, none by sendfile
    assert delta("harborlite_storage_sent_bytes_total", way="copy") >= layer["size"]
    assert delta("harborlite_storage_sent_bytes_total", way="sendfile") == 0
    assert value(after, "harborlite_manifest_cache_entries") >= 1


def test_token_refusals_are_counted_by_code(observed: Harborlite) -> None:
    before = scrape(observed)
    with httpx.Client(base_url=observed.url, timeout=10) as client:
        wrong = client.get(
            "/service/token",
            params={"service": "harbor-registry", "scope": "repository:x/y:pull"},
            auth=("admin", "not-the-password"),
        )
        assert wrong.status_code == 401
        malformed = client.get("/service/token", params={"scope": "repository"})
        assert malformed.status_code == 400
    after = scrape(observed)
    assert moved(before, after, "harborlite_tokens_refused_total", code="UNAUTHORIZED") == 1
    assert moved(before, after, "harborlite_tokens_refused_total", code="BAD_REQUEST") == 1
    assert (
        moved(
            before,
            after,
            "harborlite_http_requests_total",
            surface="token",
            method="GET",
            status="401",
        )
        >= 1
    )


def test_a_gc_run_is_counted(observed: Harborlite) -> None:
    before = scrape(observed)
    done = wait_done(observed, start(observed, MANUAL_DRY))
    assert done["job_status"] == "Success", done
    after = scrape(observed)
    assert (
        moved(before, after, "harborlite_job_executions_total", kind="gc", outcome="Success") == 1
    )
    assert moved(before, after, "harborlite_job_duration_seconds_count", kind="gc") == 1


def test_labels_hold_no_names_and_methods_are_bounded(observed: Harborlite) -> None:
    """A repository or user name as a label would grow a series per name: none appears, and a
    method a client made up is counted as ``other``."""
    project = observed.unique("secretname")
    user = observed.unique("nameduser")
    observed.create_user(user)
    observed.create_project(project)
    with Pusher(observed) as pusher:
        pusher.image(f"{project}/repo-name-here", "v1")
    with httpx.Client(base_url=observed.url, timeout=10) as client:
        client.request("PROPFIND", f"/v2/{project}/repo-name-here/manifests/v1")
        client.request("MKCOL", "/api/v2.0/projects")
        text = client.get("/metrics").text
    assert project not in text and user not in text and "repo-name-here" not in text
    assert "PROPFIND" not in text and "MKCOL" not in text
    assert 'method="other"' in text

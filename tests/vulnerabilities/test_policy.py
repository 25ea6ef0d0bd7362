"""The ``prevent_vul`` decision and the allowlist's checks, as tables of cases (pure: no
server). Harbor's texts are spelt out here, not taken from the module."""

from __future__ import annotations

from typing import Any

import pytest

from harborlite.errors import BadRequest
from harborlite.scanning.queries import ScanOverview
from harborlite.vulnerabilities.allowlists import Allowlist, checked_allowlist
from harborlite.vulnerabilities.models import CveAllowlist
from harborlite.vulnerabilities.policy import VulnerabilityPolicy, policy_of, refusal

NOW = 1_800_000_000.0
RULE = "'Prevent images with vulnerability severity of \"{}\" or higher from running.'"


def not_scanned(severity: str) -> str:
    return (
        "current image without vulnerability scanning cannot be pulled due to configured "
        f"policy in {RULE.format(severity)} To continue with pull, please contact your "
        "project administrator for help."
    )


def not_succeeded(status: str, severity: str) -> str:
    return (
        f'current image with "{status}" status of vulnerability scanning cannot be pulled due '
        f"to configured policy in {RULE.format(severity)} To continue with pull, please "
        "contact your project administrator for help."
    )


def too_vulnerable(count: int, severity: str) -> str:
    return (
        f"current image with {count} vulnerabilities cannot be pulled due to configured policy "
        f"in {RULE.format(severity)} To continue with pull, please contact your project "
        "administrator to exempt matched vulnerabilities through configuring the CVE allowlist."
    )


def scanned(status: str = "Success") -> ScanOverview:
    return ScanOverview("r1", status, "None", 0, 0)


def vuln(cve: str, severity: str) -> dict[str, Any]:
    return {"id": cve, "package": "openssl", "version": "1.0", "severity": severity}


ITEMS = [vuln("CVE-2024-0001", "High"), vuln("CVE-2024-0002", "Low"), vuln("GHSA-x", "Medium")]


def policy(severity: str, ids: tuple[str, ...] = (), expires: int | None = None) -> Any:
    return VulnerabilityPolicy(True, severity, Allowlist(frozenset(ids), expires))


@pytest.mark.parametrize(
    ("severity", "items", "expected"),
    [
        ("High", ITEMS, too_vulnerable(3, "High")),  # every counted one, not only High
        ("Critical", ITEMS, None),
        ("Medium", ITEMS, too_vulnerable(3, "Medium")),
        ("Low", [vuln("CVE-1", "Low")], too_vulnerable(1, "Low")),
        ("Medium", [vuln("CVE-1", "Low")], None),
        ("None", [vuln("CVE-1", "Negligible")], too_vulnerable(1, "None")),
        ("None", [], None),  # nothing found: allowed even at the strictest
        ("Low", [vuln("CVE-1", "Unknown")], None),  # Unknown ranks below Low
        ("Unknown", [vuln("CVE-1", "Unknown")], too_vulnerable(1, "Unknown")),
        ("High", [vuln("CVE-1", "critical")], too_vulnerable(1, "High")),  # any case
        ("Critical", [vuln("CVE-1", "Critical")], too_vulnerable(1, "Critical")),
    ],
)
def test_severity_thresholds(
    severity: str, items: list[dict[str, Any]], expected: str | None
) -> None:
    assert refusal(policy(severity), scanned(), items, NOW) == expected


def test_not_scanned_and_unsuccessful_scans_are_refused() -> None:
    assert refusal(policy("High"), None, None, NOW) == not_scanned("High")
    for status in ("Pending", "Running", "Error", "Stopped"):
        assert refusal(policy("Low"), scanned(status), [], NOW) == not_succeeded(status, "Low")


def test_without_prevent_vul_nothing_is_refused() -> None:
    off = VulnerabilityPolicy(False, "None", Allowlist(frozenset()))
    assert refusal(off, None, None, NOW) is None
    assert refusal(off, scanned(), ITEMS, NOW) is None


def test_allowlisted_ids_are_not_counted() -> None:
    # exempting the High one leaves a Medium: a High threshold lets it through
    assert refusal(policy("High", ("CVE-2024-0001",)), scanned(), ITEMS, NOW) is None
    # a Medium threshold still refuses, counting the two not exempted
    assert refusal(policy("Medium", ("CVE-2024-0001",)), scanned(), ITEMS, NOW) == too_vulnerable(
        2, "Medium"
    )
    everything = ("CVE-2024-0001", "CVE-2024-0002", "GHSA-x")
    assert refusal(policy("None", everything), scanned(), ITEMS, NOW) is None
    # an allowlist does not make a missing scan acceptable
    assert refusal(policy("High", everything), None, None, NOW) == not_scanned("High")


def test_an_expired_allowlist_exempts_nothing() -> None:
    ids = ("CVE-2024-0001",)
    assert refusal(policy("High", ids, int(NOW) + 1), scanned(), ITEMS, NOW) is None
    expired = policy("High", ids, int(NOW))  # expires at now: expired (Harbor: now >= expiry)
    assert refusal(expired, scanned(), ITEMS, NOW) == too_vulnerable(3, "High")
    assert refusal(policy("High", ids, int(NOW) - 60), scanned(), ITEMS, NOW) is not None


def _row(items: list[str], expires: int | None = None) -> CveAllowlist:
    return CveAllowlist(scope="x", items=items, expires_at=expires)


def test_the_policy_of_a_project() -> None:
    system, own = _row(["CVE-S"]), _row(["CVE-P"], 5)
    on = {"prevent_vul": "true", "severity": "high"}
    found = policy_of(on, own, system)  # reuse_sys_cve_allowlist absent: the system's
    assert found == VulnerabilityPolicy(True, "High", Allowlist(frozenset({"CVE-S"})))
    found = policy_of({**on, "reuse_sys_cve_allowlist": "false"}, own, system)
    assert found.allowlist == Allowlist(frozenset({"CVE-P"}), 5)
    assert policy_of({**on, "reuse_sys_cve_allowlist": "true"}, own, None).allowlist.ids == set()
    assert not policy_of({"severity": "high"}, None, None).prevent
    assert policy_of({"prevent_vul": "TRUE", "severity": "Critical"}, None, None).severity == (
        "Critical"
    )
    # Harbor parses a missing or unknown severity as Unknown
    assert policy_of({"prevent_vul": "true"}, None, None).severity == "Unknown"
    assert policy_of({"prevent_vul": "true", "severity": "bogus"}, None, None).severity == (
        "Unknown"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be an object"),
        ({"items": "CVE-1"}, '"items" must be a list'),
        (
            {"items": [{"cve_id": "CVE-1"}, {"cve_id": "CVE-1"}]},
            "duplicate CVE ID in allowlist: CVE-1",
        ),
        ({"items": [{"cve_id": " CVE-1"}, {"cve_id": "CVE-1 "}]}, "duplicate CVE ID"),
        ({"items": ["CVE-1"]}, '{"cve_id": "<id>"}'),
        ({"items": [{"cve_id": 7}]}, '{"cve_id": "<id>"}'),
        ({"items": [{"cve_id": ""}]}, "invalid CVE ID"),
        ({"items": [{"cve_id": "CVE 1"}]}, "invalid CVE ID"),
        ({"items": [{"cve_id": "C" * 129}]}, "invalid CVE ID"),
        ({"expires_at": "tomorrow"}, '"expires_at" must be a Unix time'),
        ({"expires_at": True}, '"expires_at" must be a Unix time'),
        ({"expires_at": 1.5}, '"expires_at" must be a Unix time'),
        ({"expires_at": int(NOW)}, "must be in the future"),
        ({"expires_at": int(NOW) - 1}, "must be in the future"),
        ({"items": [], "colour": "red"}, "unknown CVE allowlist fields: colour"),
    ],
)
def test_refused_allowlists(body: object, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        checked_allowlist(body, now=NOW)
    assert message in str(refused.value)


def test_accepted_allowlists() -> None:
    checked = checked_allowlist(
        {"items": [{"cve_id": "CVE-2024-1"}, {"cve_id": "GHSA-abcd-1234"}], "expires_at": None},
        now=NOW,
    )
    assert (checked.items, checked.expires_at) == (["CVE-2024-1", "GHSA-abcd-1234"], None)
    # Harbor's own shape back, with its id fields, is accepted (they are ignored)
    later = checked_allowlist(
        {"id": 3, "project_id": 0, "items": [], "expires_at": int(NOW) + 1}, now=NOW
    )
    assert (later.items, later.expires_at) == ([], int(NOW) + 1)
    assert checked_allowlist({}, now=NOW).items == []

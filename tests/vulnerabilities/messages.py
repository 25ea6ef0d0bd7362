"""Harbor's ``prevent_vul`` refusals, spelt out (server/middleware/vulnerable), and the check
of a refused pull."""

from __future__ import annotations

import httpx

RULE = "'Prevent images with vulnerability severity of \"{}\" or higher from running.'"
NOT_SCANNED = (
    "current image without vulnerability scanning cannot be pulled due to configured policy in "
    + RULE
    + " To continue with pull, please contact your project administrator for help."
)
TOO_VULNERABLE = (
    "current image with {} vulnerabilities cannot be pulled due to configured policy in "
    + RULE
    + " To continue with pull, please contact your project administrator to exempt matched "
    "vulnerabilities through configuring the CVE allowlist."
)


def refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 412, response.text
    assert response.json() == {"errors": [{"code": "PROJECTPOLICYVIOLATION", "message": message}]}

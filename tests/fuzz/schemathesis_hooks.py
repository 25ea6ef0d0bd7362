"""Checks of ours for the schemathesis runs (loaded through ``SCHEMATHESIS_HOOKS``).

schemathesis's ``content_type_conformance`` also asks an empty body for a ``Content-Type``;
an empty answer (a 200 to a DELETE, a 201 with only ``Location``) has no content to type
(RFC 9110 8.3), so ours applies the same check to answers that carry content only.
"""

from __future__ import annotations

import schemathesis
from schemathesis.specs.openapi.checks import content_type_conformance


@schemathesis.check
def content_type_of_content(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    if not response.content:
        return None
    return content_type_conformance(ctx, response, case)

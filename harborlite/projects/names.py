"""What a project name may be (Harbor's rule): one path component of a repository name."""

from __future__ import annotations

import re

_PROJECT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")

PROJECT_NAME_RULE = (
    "use lower case letters and digits, with single '.', '_' or '-' between them "
    "(1 to 255 characters)"
)


def valid_project_name(name: str) -> bool:
    return 1 <= len(name) <= 255 and _PROJECT_NAME.match(name) is not None

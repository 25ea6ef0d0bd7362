"""Reading JSON nobody vouches for: bounded in size and in nesting depth before it is parsed.

Every manifest and config harborlite parses comes from a client (a push) or from a registry a
client filled (the cache, reindex, copy), so it is read here. ``json.loads`` recurses once per
nesting level and gives up with a :class:`RecursionError` somewhere near a thousand levels,
depending on how deep the caller's stack already is: not an answer to rely on. The nesting is
therefore counted first, by a scan that does not recurse, and only a document within the
limits is handed to the parser.

:data:`MAX_JSON_DEPTH` is 64: an OCI or Docker manifest nests 4 levels (manifest, descriptor,
platform, ``os.features``), an image config 4 to 5 (``config.Healthcheck.Test``), a Helm chart
config a few more with its maintainers and dependencies. 64 leaves room for any real document
and for annotations holding JSON, and keeps a hostile document's cost to a bounded scan.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate, count
from typing import Any

from harborlite.oci.fields import ManifestError

MAX_JSON_DEPTH = 64


# A JSON string, or the rest of the document after a quote never closed (so that every byte
# is looked at once); brackets inside strings do not nest.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# an opening bracket steps 2, a closing one 0: the depth after k brackets is their sum minus k
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


class UnreadableJson(ManifestError):
    """A document harborlite will not read as JSON: too large, nested too deep, not UTF-8,
    not JSON or not an object. The message says which."""


def nesting_over(data: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``data`` nest more than ``limit`` levels deep.

    Brackets inside strings do not count; a document that is not JSON may be judged either way
    (the parser refuses it afterwards). Linear, without recursion, and in C iterators (a 4 MiB
    document takes about as long as ``json.loads`` of it)."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    depths = map(operator.sub, accumulate(brackets.translate(_STEPS)), count(1))
    return any(map(limit.__lt__, depths))


def read_json(
    data: bytes, what: str, *, max_bytes: int | None, max_depth: int = MAX_JSON_DEPTH
) -> object:
    """``data`` parsed, if it is UTF-8 JSON of at most ``max_bytes`` bytes (None: no limit of
    this reader's) nesting at most ``max_depth`` levels; :class:`UnreadableJson` otherwise.
    NaN and Infinity are refused, as JSON has no such numbers."""
    if max_bytes is not None and len(data) > max_bytes:
        raise UnreadableJson(f"{what} is {len(data)} bytes, more than the limit of {max_bytes}")
    if nesting_over(data, max_depth):
        raise UnreadableJson(f"{what} nests deeper than {max_depth} levels")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise UnreadableJson(f"{what} is not UTF-8: {exc}") from exc
    except RecursionError:  # not reached within the depth limit; kept as a last guard
        raise UnreadableJson(f"{what} nests too deep to parse") from None
    except ValueError as exc:
        raise UnreadableJson(f"{what} is not valid JSON: {exc}") from exc


def read_object(
    data: bytes, what: str, *, max_bytes: int | None, max_depth: int = MAX_JSON_DEPTH
) -> dict[str, Any]:
    """:func:`read_json` of a document that must be a JSON object."""
    body = read_json(data, what, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(body, dict):
        raise UnreadableJson(f"{what} must be a JSON object")
    return body


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")

"""Image and Helm chart configs: what Harbor shows of them (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harborlite.oci.fields import ManifestError, _optional_str
from harborlite.oci.json_reader import read_object

# Fields of the OCI ImageConfig that Harbor echoes in extra_attrs["config"] (Go omitempty).
_OCI_CONTAINER_CONFIG_KEYS = (
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
)


_HISTORY_KEYS = ("created", "created_by", "author", "comment", "empty_layer")


_AUTHOR_LABELS = ("org.opencontainers.image.authors", "maintainer")


@dataclass(frozen=True)
class ImageConfigInfo:
    architecture: str | None
    os: str | None
    created: str | None
    author: str | None
    config: dict[str, Any]
    history: tuple[dict[str, Any], ...]

    def extra_attrs(self) -> dict[str, Any]:
        """Harbor's ``extra_attrs`` of an IMAGE: missing strings are ``""``, ``created`` null.

        ``config`` holds only the OCI ImageConfig fields that are set, and the author falls back
        to the ``org.opencontainers.image.authors`` or ``maintainer`` label, as Harbor does.
        """
        author = self.author or ""
        labels = self.config.get("Labels")
        if not author and isinstance(labels, dict):
            author = next(
                (labels[k] for k in _AUTHOR_LABELS if isinstance(labels.get(k), str) and labels[k]),
                "",
            )
        container = {
            key: self.config[key]
            for key in _OCI_CONTAINER_CONFIG_KEYS
            if key in self.config and _is_set(self.config[key])
        }
        return {
            "architecture": self.architecture or "",
            "os": self.os or "",
            "created": self.created,
            "author": author,
            "config": container,
        }


def parse_image_config(data: bytes) -> ImageConfigInfo:
    """Read a docker/OCI image config blob; an empty blob gives an empty config."""
    if not data.strip():
        return ImageConfigInfo(None, None, None, None, {}, ())
    body = read_object(data, "image config", max_bytes=None)  # as large as the fetch allows
    container = body.get("config")
    if container is not None and not isinstance(container, dict):
        raise ManifestError("image config 'config' must be an object")
    raw_history = body.get("history")
    if raw_history is not None and not isinstance(raw_history, list):
        raise ManifestError("image config 'history' must be a list")
    history = tuple(raw_history or ())
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise ManifestError(f"image config history[{i}] must be an object")
    return ImageConfigInfo(
        architecture=_optional_str(body, "architecture", "image config"),
        os=_optional_str(body, "os", "image config"),
        created=_optional_str(body, "created", "image config"),
        author=_optional_str(body, "author", "image config"),
        config=container or {},
        history=history,
    )


def parse_chart_config(data: bytes) -> dict[str, Any]:
    """A Helm chart config; Harbor returns it whole as the chart's ``extra_attrs``."""
    if not data.strip():
        return {}
    body = read_object(data, "chart config", max_bytes=None)
    for key in ("name", "version", "apiVersion"):
        if key in body and not isinstance(body[key], str):
            raise ManifestError(f"chart config '{key}' must be a string")
    return body


def build_history(config: ImageConfigInfo) -> list[dict[str, Any]]:
    """The ``build_history`` addition: each history entry with its set fields only."""
    return [
        {key: entry[key] for key in _HISTORY_KEYS if key in entry and _is_set(entry[key])}
        for entry in config.history
    ]


def _is_set(value: object) -> bool:
    """Go's ``omitempty``: drop null, false, zero, empty strings and empty collections."""
    return (
        value is not None
        and value is not False
        and value != 0
        and value != ""
        and (not isinstance(value, list | dict) or len(value) > 0)
    )

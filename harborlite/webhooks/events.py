"""The event types a webhook policy may name, what each is called in CloudEvents, and the
notify types and payload formats (Harbor's ``GET .../webhook/events``)."""

from __future__ import annotations

from harborlite.events.bus import (
    DELETE_ARTIFACT,
    DELETE_PROJECT,
    DELETE_TAG,
    PULL_ARTIFACT,
    PUSH_ARTIFACT,
)

QUOTA_EXCEED = "QUOTA_EXCEED"
QUOTA_WARNING = "QUOTA_WARNING"
SCANNING_FAILED = "SCANNING_FAILED"
SCANNING_STOPPED = "SCANNING_STOPPED"
SCANNING_COMPLETED = "SCANNING_COMPLETED"
REPLICATION = "REPLICATION"
TAG_RETENTION = "TAG_RETENTION"

# Harbor's order (src/pkg/notification/notification.go), then harborlite's own
EVENT_TYPES: tuple[str, ...] = (
    DELETE_ARTIFACT,
    PULL_ARTIFACT,
    PUSH_ARTIFACT,
    QUOTA_EXCEED,
    QUOTA_WARNING,
    REPLICATION,
    SCANNING_FAILED,
    SCANNING_STOPPED,
    SCANNING_COMPLETED,
    TAG_RETENTION,
    DELETE_TAG,  # beyond Harbor (#18820)
    DELETE_PROJECT,  # beyond Harbor
)

CLOUD_EVENT_TYPES: dict[str, str] = {
    PUSH_ARTIFACT: "harbor.artifact.pushed",
    PULL_ARTIFACT: "harbor.artifact.pulled",
    DELETE_ARTIFACT: "harbor.artifact.deleted",
    QUOTA_EXCEED: "harbor.quota.exceeded",
    QUOTA_WARNING: "harbor.quota.warned",
    SCANNING_COMPLETED: "harbor.scan.completed",
    SCANNING_FAILED: "harbor.scan.failed",
    SCANNING_STOPPED: "harbor.scan.stopped",
    REPLICATION: "harbor.replication.status.changed",
    TAG_RETENTION: "harbor.tag_retention.finished",
    DELETE_TAG: "harbor.tag.deleted",
    DELETE_PROJECT: "harbor.project.deleted",
}

HTTP, SLACK = "http", "slack"
NOTIFY_TYPES: tuple[str, ...] = (HTTP, SLACK)
DEFAULT_FORMAT, CLOUD_EVENTS = "Default", "CloudEvents"
PAYLOAD_FORMATS: dict[str, tuple[str, ...]] = {HTTP: (DEFAULT_FORMAT, CLOUD_EVENTS)}


def supported_events() -> dict[str, object]:
    """The body of ``GET /projects/{p}/webhook/events``."""
    return {
        "event_type": list(EVENT_TYPES),
        "notify_type": list(NOTIFY_TYPES),
        "payload_formats": [
            {"notify_type": kind, "formats": list(formats)}
            for kind, formats in PAYLOAD_FORMATS.items()
        ],
    }

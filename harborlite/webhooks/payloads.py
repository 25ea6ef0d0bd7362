"""The bodies a target receives, built once when the event is queued (the task keeps the exact
bytes): Harbor's Default payload, CloudEvents 1.0 (structured mode) and Slack's message.

Default (src/pkg/notifier/model/event.go)::

    {"type": "PUSH_ARTIFACT", "occur_at": 1678082303, "operator": "admin",
     "event_data": {"resources": [{"digest": "sha256:...", "tag": "latest",
                                   "resource_url": "harbor.example.com/library/busybox:latest"}],
                    "repository": {"date_created": 1677053165, "name": "busybox",
                                   "namespace": "library", "repo_full_name": "library/busybox",
                                   "repo_type": "private"}}}

``tag`` is the tag the event names (the pulled tag on a pull, not the artifact's first tag:
Harbor's #16923), or the digest when there is none; ``resource_url`` is
``<host>/<repo>:<tag>`` or ``<host>/<repo>@<digest>``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harborlite.events.bus import ArtifactEvent
from harborlite.webhooks.events import CLOUD_EVENT_TYPES, CLOUD_EVENTS, SLACK

JSON_TYPE = "application/json"
CLOUD_EVENTS_TYPE = "application/cloudevents+json"


@dataclass(frozen=True)
class RepositoryInfo:
    """What the payload tells of the event's repository (looked up when it is queued)."""

    date_created: datetime | None
    public: bool


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _unix(when: datetime) -> int:
    return int(when.timestamp())


def event_data(
    event: ArtifactEvent, host: str, repository: RepositoryInfo | None
) -> dict[str, Any]:
    """The Default payload's ``event_data`` (CloudEvents' ``data``)."""
    details = {k: v for k, v in event.details.items() if k != "request_id"}
    data: dict[str, Any] = {}
    if "resources" in details:
        data["resources"] = details.pop("resources")
    elif event.digest or event.tag:
        if event.tag:
            url = f"{host}/{event.repository}:{event.tag}"
        else:
            url = f"{host}/{event.repository}@{event.digest}"
        data["resources"] = [
            {"digest": event.digest or "", "tag": event.tag or event.digest, "resource_url": url}
        ]
    if event.repository:
        namespace, _, name = event.repository.partition("/")
        info: dict[str, Any] = {}
        if repository is not None and repository.date_created is not None:
            info["date_created"] = _unix(repository.date_created)
        info.update(
            name=name,
            namespace=namespace,
            repo_full_name=event.repository,
            repo_type="public" if repository is not None and repository.public else "private",
        )
        data["repository"] = info
    data.update(details)
    return data


def default_body(event: ArtifactEvent, data: dict[str, Any]) -> str:
    return _dumps(
        {
            "type": event.kind,
            "occur_at": _unix(event.occurred_at),
            "operator": event.operator,
            "event_data": data,
        }
    )


def cloud_event_body(
    event: ArtifactEvent, data: dict[str, Any], project_id: int, policy_id: int
) -> str:
    request_id = event.details.get("request_id")
    return _dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "requestid": str(request_id) if request_id else str(uuid.uuid4()),
            "source": f"/projects/{project_id}/webhook/policies/{policy_id}",
            "type": CLOUD_EVENT_TYPES.get(event.kind, "harbor." + event.kind.lower()),
            "time": event.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "datacontenttype": JSON_TYPE,
            "operator": event.operator,
            "data": data,
        }
    )


def slack_body(event: ArtifactEvent, data: dict[str, Any]) -> str:
    """Harbor's Slack message (src/pkg/notifier/handler/notification/slack_handler.go)."""
    occur_at = _unix(event.occurred_at)
    details = "```" + json.dumps(data, indent=2, ensure_ascii=False) + "```"
    return _dumps(
        {
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "*Harbor webhook events*"},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"*event_type:* {event.kind}\n"
                        f"*occur_at:* <!date^{occur_at}^{{date}} at {{time}}|{occur_at}>\n"
                        f"*operator:* {event.operator}\n*event_data:*",
                    },
                },
                {"type": "section", "text": {"type": "mrkdwn", "text": details}},
            ]
        }
    )


def body_for(
    target: dict[str, Any],
    event: ArtifactEvent,
    data: dict[str, Any],
    project_id: int,
    policy_id: int,
) -> tuple[str, str]:
    """``(body, content type)`` for one target of a policy."""
    if target.get("type") == SLACK:
        return slack_body(event, data), JSON_TYPE
    if target.get("payload_format") == CLOUD_EVENTS:
        return cloud_event_body(event, data, project_id, policy_id), CLOUD_EVENTS_TYPE
    return default_body(event, data), JSON_TYPE

"""How API resources look on the wire: Harbor's field names and types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harborlite.auth.permissions import Role
from harborlite.db.models import AuditLog, Label, Member, Project, User


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_json(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email,
        "realname": user.realname,
        "comment": user.comment,
        "sysadmin_flag": user.sysadmin,
        "admin_role_in_auth": False,
        "disabled": user.disabled,
        "creation_time": iso(user.creation_time),
        "update_time": iso(user.update_time),
    }


def project_json(
    project: Project,
    *,
    owner_name: str = "",
    role: Role | None = None,
    repo_count: int = 0,
    cve_allowlist: dict[str, Any] | None = None,
    registry_id: int = 0,
) -> dict[str, Any]:
    metadata = {k: str(v) for k, v in (project.project_metadata or {}).items()}
    metadata["public"] = "true" if project.public else "false"
    return {
        "project_id": project.id,
        "owner_id": project.owner_id or 0,
        "owner_name": owner_name,
        "name": project.name,
        "registry_id": registry_id,
        "creation_time": iso(project.creation_time),
        "update_time": iso(project.update_time),
        "deleted": False,
        "togglable": True,
        "current_user_role_id": int(role) if role is not None else 0,
        "current_user_role_ids": [int(role)] if role is not None else [],
        "repo_count": repo_count,
        "metadata": metadata,
        "cve_allowlist": cve_allowlist
        or {
            "id": 0,
            "project_id": project.id,
            "items": [],
            "creation_time": iso(project.creation_time),
            "update_time": iso(project.update_time),
        },
    }


def member_json(member: Member, user: User) -> dict[str, Any]:
    role = Role(member.role_id)
    return {
        "id": member.id,
        "project_id": member.project_id,
        "entity_name": user.username,
        "role_name": role.label,
        "role_id": int(role),
        "entity_id": user.id,
        "entity_type": "u",
    }


def audit_json(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "username": entry.username,
        "resource": entry.resource,
        "resource_type": entry.resource_type,
        "operation": entry.operation,
        "op_time": iso(entry.op_time),
        "client_ip": entry.client_ip,
        "user_agent": entry.user_agent,
        "success": entry.success,
        "detail": entry.detail or "",
    }


def label_json(label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "name": label.name,
        "description": label.description or "",
        "color": label.color or "",
        "scope": label.scope,
        "project_id": label.project_id or 0,
        "creation_time": iso(label.creation_time),
        "update_time": iso(label.update_time),
    }

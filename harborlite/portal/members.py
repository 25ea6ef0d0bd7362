"""A project's members: the tab, adding a member, changing a role and removing a member. The
rules (a member once, a ProjectAdmin kept) are the domain's, in
:mod:`harborlite.projects.operations`; the sentences are the portal's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.auth.permissions import Action, Role
from harborlite.errors import Conflict, NotFound
from harborlite.portal.call import page_call
from harborlite.portal.pages import checked_form, redirect, text_field
from harborlite.projects import operations
from harborlite.projects import queries as projects

ROLE_CHOICES = [
    Role.PROJECT_ADMIN,
    Role.MAINTAINER,
    Role.DEVELOPER,
    Role.GUEST,
    Role.LIMITED_GUEST,
]
GONE = "That member does not exist any more."


async def members_tab(request: Request) -> Response:
    async with page_call(request) as call:
        project, access = await call.project(request.path_params["project"])
        call.require(access, ("member", "list"), "see its members")
        members = await projects.list_members(call.session, project.id)
        return call.project_tab(
            "project_members.html",
            "members",
            project,
            access,
            members=members,
            roles=ROLE_CHOICES,
        )


def _role_from(value: str) -> Role | None:
    try:
        return Role.parse(value)
    except ValueError:
        return None


async def add_member(request: Request) -> Response:
    name = request.path_params["project"]
    back = f"/projects/{name}/members"
    async with page_call(request) as call:
        form = await checked_form(request)
        project, access = await call.project(name)
        call.require(access, ("member", "create"), "add members")
        username = text_field(form, "username")
        role = _role_from(text_field(form, "role"))
        if role is None:
            return redirect(request, back, error="Choose a role for the new member.")
        user = await accounts.get_user_by_name(call.session, username)
        if user is None:
            return redirect(request, back, error=f"There is no user named “{username}”.")
        try:
            await operations.add_member(call.session, project, user, role, by=call.actor)
        except Conflict:
            return redirect(request, back, error=f"{username} is already a member of {name}.")
    return redirect(
        request,
        back,
        notice=f"{username} was added to {name} as {role.name.title().replace('_', ' ')}.",
    )


async def change_member(request: Request) -> Response:
    name = request.path_params["project"]
    back = f"/projects/{name}/members"
    remove = request.url.path.endswith("/remove")
    try:
        async with page_call(request) as call:
            form = await checked_form(request)
            project, access = await call.project(name)
            action: Action = "delete" if remove else "update"
            call.require(access, ("member", action), "change members")
            member = await projects.get_member(
                call.session, project.id, request.path_params["member"]
            )
            if member is None:
                raise NotFound(GONE)
            user = await accounts.get_user(call.session, member.user_id)
            username = user.username if user else "?"
            role = None if remove else _role_from(text_field(form, "role"))
            if not remove and role is None:
                return redirect(request, back, error="Choose a role.")
            try:
                if role is None:
                    await operations.remove_member(
                        call.session, call.viewer.principal, project, member, by=call.actor
                    )
                else:
                    await operations.change_member_role(
                        call.session, call.viewer.principal, project, member, role, by=call.actor
                    )
            except NotFound:  # removed by someone else meanwhile
                raise NotFound(GONE) from None
    except operations.LastAdmin:  # the change is rolled back
        return redirect(
            request,
            back,
            error="The last project admin cannot be removed or demoted "
            "(a system administrator can).",
        )
    notice = f"{username} was removed from {name}." if remove else f"{username}'s role was changed."
    return redirect(request, back, notice=notice)


ROUTES = [
    Route("/projects/{project}/members", members_tab, methods=["GET"]),
    Route("/projects/{project}/members", add_member, methods=["POST"]),
    Route("/projects/{project}/members/{member:int}/role", change_member, methods=["POST"]),
    Route("/projects/{project}/members/{member:int}/remove", change_member, methods=["POST"]),
]

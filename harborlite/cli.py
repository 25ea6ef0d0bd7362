"""The ``harborlite`` command: serve, and the admin tasks that need no server."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable

from harborlite import __version__
from harborlite.settings import Settings, SettingsError, load_settings

DESCRIPTION = """\
harborlite: a private container registry with Harbor's core in one process.

Settings come from HARBORLITE_* environment variables (see the README); the
data folder defaults to ./data. Every subcommand reads the same settings.
"""


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from harborlite.app import create_app

    host = settings.external_host
    print(
        f"harborlite {__version__} starting on {settings.host}:{settings.port}\n"
        f"  external URL: {settings.external_url}\n"
        f"  data folder:  {settings.data_dir}\n"
        f"  database:     {settings.database_url.split('://')[0]}\n"
        f"  registry:     {settings.registry_url or 'embedded (started by harborlite)'}\n"
        f"  log in:       skopeo login --tls-verify=false {host} -u admin\n"
        f"                (password: HARBORLITE_ADMIN_PASSWORD, or the file "
        f"{settings.admin_password_file} on first start)",
        flush=True,
    )
    config = uvicorn.Config(
        create_app(settings),  # with sendfile(2) for blob downloads
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning" if settings.log_level == "info" else settings.log_level,
        access_log=False,
        server_header=False,
        timeout_keep_alive=30,
        h11_max_incomplete_event_size=64 * 1024,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


async def _with_session(settings: Settings, work: Callable[..., Awaitable[int]]) -> int:
    from harborlite.bootstrap import ensure_initial_state, prepare_data_dir
    from harborlite.db.engine import make_engine, make_sessionmaker, migrate

    prepare_data_dir(settings)
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            generated = await ensure_initial_state(session, settings)
            if generated:
                print(
                    f"created user admin with password {generated} "
                    f"(saved in {settings.admin_password_file})"
                )
            return await work(session)
    finally:
        await engine.dispose()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    env = os.environ.get("HARBORLITE_NEW_PASSWORD")
    if env:
        return env
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("passwords differ")
    return first


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from harborlite.accounts import queries as accounts
    from harborlite.accounts.passwords import PasswordPolicyError, check_policy, hash_password
    from harborlite.audit.events import CREATE, AuditEvent, record

    password = _password(args)
    try:
        check_policy(password)
    except PasswordPolicyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    async def work(session: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        if await accounts.get_user_by_name(session, args.name) is not None:
            print(f"error: user {args.name} already exists", file=sys.stderr)
            return 1
        await accounts.create_user(
            session,
            username=args.name,
            password_hash=await hash_password(password),
            email=args.email or "",
            sysadmin=args.admin,
        )
        record(session, AuditEvent("cli", CREATE, "user", args.name))
        await session.commit()
        print(f"created user {args.name}{' (system admin)' if args.admin else ''}")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_project_create(settings: Settings, args: argparse.Namespace) -> int:
    from harborlite.audit.events import CREATE, AuditEvent, record
    from harborlite.projects import queries as projects
    from harborlite.projects.names import PROJECT_NAME_RULE, valid_project_name

    if not valid_project_name(args.name):
        print(f"error: project name {args.name!r} is invalid: {PROJECT_NAME_RULE}", file=sys.stderr)
        return 2

    async def work(session: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        if await projects.get_project_by_name(session, args.name) is not None:
            print(f"error: project {args.name} already exists", file=sys.stderr)
            return 1
        project = await projects.create_project(
            session, name=args.name, public=args.public, owner=None
        )
        record(session, AuditEvent("cli", CREATE, "project", args.name, project_id=project.id))
        await session.commit()
        print(f"created {'public' if args.public else 'private'} project {args.name}")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_member_add(settings: Settings, args: argparse.Namespace) -> int:
    from harborlite.accounts import queries as accounts
    from harborlite.audit.events import CREATE, AuditEvent, record
    from harborlite.auth.permissions import Role
    from harborlite.projects import queries as projects

    try:
        role = Role.parse(args.role)
    except ValueError:
        print(
            f"error: unknown role {args.role!r}: use projectAdmin, maintainer, developer, "
            "guest, limitedGuest (or 1-5)",
            file=sys.stderr,
        )
        return 2

    async def work(session: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        project = await projects.get_project_by_name(session, args.project)
        if project is None:
            print(f"error: project {args.project} not found", file=sys.stderr)
            return 1
        user = await accounts.get_user_by_name(session, args.user)
        if user is None:
            print(f"error: user {args.user} not found", file=sys.stderr)
            return 1
        member = await projects.find_member(session, project.id, user.id)
        if member is None:
            await projects.add_member(session, project.id, user.id, role)
        else:
            await projects.update_member(session, member, role)
        record(
            session,
            AuditEvent(
                "cli",
                CREATE,
                "member",
                f"{project.name}/{user.username}",
                project_id=project.id,
                detail=f"role={role.label}",
            ),
        )
        await session.commit()
        print(f"{user.username} is {role.label} of {project.name}")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(session: object) -> int:
        print("database is up to date")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    from harborlite.artifacts.reindex import reindex_command

    return asyncio.run(reindex_command(settings))


def cmd_registry_config(settings: Settings, args: argparse.Namespace) -> int:
    import yaml

    from harborlite.bootstrap import prepare_data_dir
    from harborlite.upstream.supervisor import registry_config

    prepare_data_dir(settings)
    config = registry_config(
        settings,
        addr="0.0.0.0:5000",
        storage_root=settings.registry_storage_dir,
        http_secret="CHANGE-ME",
    )
    print(f"# trust this certificate as rootcertbundle: {settings.cert_path}")
    print(yaml.safe_dump(config, sort_keys=False), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harborlite",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"harborlite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the registry gateway, token service, API and portal")
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user (password asked, or from stdin)")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="make the user a system admin")
    create.add_argument("--email", help="e-mail address")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(func=cmd_user_create)

    project = sub.add_parser("project", help="manage projects").add_subparsers(
        dest="action", required=True
    )
    pcreate = project.add_parser("create", help="create a project")
    pcreate.add_argument("name")
    pcreate.add_argument("--public", action="store_true", help="anyone may pull from it")
    pcreate.set_defaults(func=cmd_project_create)

    member = sub.add_parser("member", help="manage project members").add_subparsers(
        dest="action", required=True
    )
    madd = member.add_parser("add", help="add USER to PROJECT with ROLE (or change the role)")
    madd.add_argument("project")
    madd.add_argument("user")
    madd.add_argument("role", help="projectAdmin, maintainer, developer, guest, limitedGuest")
    madd.set_defaults(func=cmd_member_add)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser(
        "reindex", help="rebuild the artifact index from the registry's content"
    ).set_defaults(func=cmd_reindex)
    sub.add_parser(
        "registry-config",
        help="print the registry config to use with HARBORLITE_REGISTRY_URL (an external registry)",
    ).set_defaults(func=cmd_registry_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"harborlite: bad setting: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())

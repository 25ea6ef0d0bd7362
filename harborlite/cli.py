"""The ``harborlite`` command: serve, and the admin tasks that need no server."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite import __version__, logsafe
from harborlite.accounts import operations as accounts
from harborlite.accounts import queries as user_queries
from harborlite.accounts.passwords import CredentialCache
from harborlite.audit.events import CLI
from harborlite.auth.permissions import Role
from harborlite.errors import BadRequest, HarborliteError, NotFound
from harborlite.projects import operations as projects
from harborlite.projects import queries as project_queries
from harborlite.runtime import load_signer, open_database, open_registry, open_upstream
from harborlite.settings import Settings, SettingsError, load_settings
from harborlite.tls import authority, trust
from harborlite.tls.authority import AuthorityError, TlsFiles
from harborlite.tls.context import ServedCertificate, TlsError
from harborlite.tls.trust import DEFAULT_HTTPS_PORT, Endpoint

DESCRIPTION = """\
harborlite: a private container registry with Harbor's core in one process.

Settings come from HARBORLITE_* environment variables (see the README); the
data folder defaults to ./data. Every subcommand reads the same settings.
"""


def configure_logging(level: str, log_format: str = "text") -> None:
    """One line per record on standard error, its message escaped and credentials scrubbed
    (:mod:`harborlite.logsafe`): a client's text cannot start a line of its own. With
    ``log_format="json"`` each line is a JSON object
    (:mod:`harborlite.observability.json_logs`), uvicorn's too (``logsafe.install``)."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if log_format == "json":
        from harborlite.observability.json_logs import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(logsafe.SafeFormatter(JsonFormatter()))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logsafe.install()


class QuietProbes(logging.Filter):
    """docker, skopeo and podman try HTTPS first on a plain-HTTP port: their TLS ClientHello
    is "Invalid HTTP request received." to uvicorn, a warning per command. It is no fault:
    logged at debug (seen with ``HARBORLITE_LOG_LEVEL=debug``), else not at all."""

    PROBE = "Invalid HTTP request received."

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != self.PROBE:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class Stopped(Exception):
    """SIGTERM, raised again by uvicorn after its clean shutdown (``docker stop``, systemd)."""


def _stopped(signum: int, frame: object) -> None:
    raise Stopped


def _served_certificate(settings: Settings) -> ServedCertificate | None:
    """The TLS context of ``HARBORLITE_TLS_CERT``/``_KEY`` (None: plain HTTP); a pair that
    cannot be served ends the start with one line naming the file."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        return ServedCertificate(settings.tls_cert, settings.tls_key)
    except TlsError as error:
        raise SystemExit(f"harborlite: refusing to start: HARBORLITE_TLS_CERT: {error}") from None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from harborlite.app import create_app
    from harborlite.datadir import secure_data_dir
    from harborlite.http.connections import protocol_for

    secure_data_dir(settings.data_dir)  # umask 077; refuses a folder others can write
    served = _served_certificate(settings)  # before the banner: a bad file fails the start
    host = settings.external_host
    login = f"--tls-verify=false {host}"
    if settings.external_url.startswith("https://"):
        login = f"--cert-dir DIR {host}  (DIR holding the CA: `harborlite tls show`)"
    print(
        f"harborlite {__version__} starting on {settings.host}:{settings.port}"
        f"{' (HTTPS)' if served else ''}\n"
        f"  external URL: {settings.external_url}\n"
        f"  data folder:  {settings.data_dir}\n"
        f"  database:     {settings.database_url.split('://')[0]}\n"
        f"  registry:     {settings.registry_url or 'embedded (started by harborlite)'}\n"
        f"  log in:       skopeo login -u admin {login}\n"
        f"                (password: HARBORLITE_ADMIN_PASSWORD, or the file "
        f"{settings.admin_password_file} on first start)",
        flush=True,
    )
    config = uvicorn.Config(
        create_app(settings),  # with sendfile(2) for blob downloads
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools with a header timeout, a head size limit and a connection limit (503)
        http=protocol_for(settings),
        lifespan="on",
        log_level="warning" if settings.log_level == "info" else settings.log_level,
        access_log=False,
        server_header=False,
        timeout_keep_alive=settings.idle_timeout_seconds,
        h11_max_incomplete_event_size=64 * 1024,
        # X-Forwarded-For / -Proto believed from HARBORLITE_TRUSTED_PROXIES only: uvicorn's
        # default believes 127.0.0.1, so any local client would choose its audited address
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        # our context, whose certificate SIGHUP reloads (uvicorn's would be fixed at start)
        ssl_context_factory=(lambda config, default: served.context) if served else None,
    )
    logsafe.install()  # on the handlers uvicorn's Config just made too
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.error").addFilter(QuietProbes())  # after uvicorn set it up
    # uvicorn handles Ctrl-C and SIGTERM (a clean shutdown: requests drained, registry
    # stopped), then raises the signal again once it has put the handler it found back: a
    # KeyboardInterrupt, or Stopped from the handler below. Both end here, in one line, exit 0
    previous = signal.signal(signal.SIGTERM, _stopped)
    restore_sighup = served.reload_on_sighup() if served else None
    try:
        server.run()
    except (KeyboardInterrupt, Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if restore_sighup is not None:
            restore_sighup()
    if server.started:
        print("harborlite stopped", flush=True)
    return 0 if server.started else 1


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[int]]) -> int:
    """Run ``work`` in a session of the migrated database; a refusal of the domain (the error
    tree) is printed as ``error: <why>``, exit 2 for bad input and 1 for the others."""
    async with open_database(settings) as database:
        if database.generated_admin_password:
            print(
                f"created user admin with password {database.generated_admin_password} "
                f"(saved in {settings.admin_password_file})"
            )
        async with database.sessions() as session:
            try:
                result = await work(session)
            except HarborliteError as error:
                print(f"error: {error.message}", file=sys.stderr)
                return 2 if isinstance(error, BadRequest) else 1
            await session.commit()
            return result


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
    password = _password(args)

    async def work(session: AsyncSession) -> int:
        await accounts.create_user(
            session,
            username=args.name,
            password=password,
            email=args.email or "",
            sysadmin=args.admin,
            by=CLI,
        )
        print(f"created user {args.name}{' (system admin)' if args.admin else ''}")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_user_disable(settings: Settings, args: argparse.Namespace) -> int:
    """``user disable NAME`` / ``user enable NAME``: refused everywhere as a wrong password
    is, tokens already issued dead at once (on a running server too), until enabled again."""
    disabled = args.action == "disable"

    async def work(session: AsyncSession) -> int:
        user = await user_queries.get_user_by_name(session, args.name)
        if user is None:
            raise NotFound(f"user {args.name} not found")
        await accounts.set_disabled(
            session, user, disabled, principal=None, by=CLI, credentials=CredentialCache(0)
        )
        print(f"user {user.username} is {'disabled' if disabled else 'enabled'}")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_project_create(settings: Settings, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> int:
        await projects.create_project(
            session, name=args.name, public=args.public, owner=None, by=CLI
        )
        print(f"created {'public' if args.public else 'private'} project {args.name}")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_member_add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        role = Role.parse(args.role)
    except ValueError:
        print(
            f"error: unknown role {args.role!r}: use projectAdmin, maintainer, developer, "
            "guest, limitedGuest (or 1-5)",
            file=sys.stderr,
        )
        return 2

    async def work(session: AsyncSession) -> int:
        project = await project_queries.get_project_by_name(session, args.project)
        if project is None:
            raise NotFound(f"project {args.project} not found")
        user = await user_queries.get_user_by_name(session, args.user)
        if user is None:
            raise NotFound(f"user {args.user} not found")
        await projects.set_member(session, project, user, role, by=CLI)
        print(f"{user.username} is {role.label} of {project.name}")
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> int:
        print("database is up to date")
        return 0

    return asyncio.run(_with_session(settings, work))


async def _reindex(settings: Settings) -> int:
    from harborlite.artifacts.reindex import reindex
    from harborlite.storage.configured import registry_storage

    async with (
        open_database(settings, first_start=False) as database,
        open_registry(settings, purpose="reindex") as registry,
        open_upstream(registry.url, load_signer(settings, expiration_seconds=300)) as upstream,
        database.sessions() as session,
    ):
        try:
            report = await reindex(upstream, session, registry_storage(settings))
        except HarborliteError as error:
            print(f"reindex failed: {error.message}")
            return 1
    print(report.summary())
    # 3: the rest is indexed, but what the summary lists as skipped is not
    return 3 if report.skipped else 0


def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_reindex(settings))


async def _quota_recount(settings: Settings, names: list[str]) -> int:
    from harborlite.quotas.recount import projects_named, recount
    from harborlite.quotas.usage import upload_window
    from harborlite.storage.configured import registry_storage

    async with (
        open_database(settings, first_start=False) as database,
        open_registry(settings, purpose="quota recount") as registry,
        open_upstream(registry.url, load_signer(settings, expiration_seconds=300)) as upstream,
    ):
        try:
            async with database.sessions() as session:
                targets = await projects_named(session, names)
        except HarborliteError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 2
        window = upload_window(settings.gc_time_window_minutes)
        for name, project_id in targets.items():
            async with database.sessions() as session:
                result = await recount(
                    session, upstream, registry_storage(settings), project_id, window=window
                )
                await session.commit()
            print(result.summary(name))
    return 0


def cmd_quota_recount(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_quota_recount(settings, list(args.projects)))


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
    if settings.storage == "s3":
        print(
            f"# storage: the S3 bucket {settings.s3_bucket}; blob GETs redirect to presigned "
            "URLs, so clients must reach the bucket's endpoint"
        )
        if settings.s3_secret_key:
            print("# this holds the S3 secret key: keep the file private (chmod 600)")
        print("# start the registry without AWS_CA_BUNDLE in its environment")
    print(yaml.safe_dump(config, sort_keys=False), end="")
    return 0


def _tls_endpoint(settings: Settings, host: str) -> Endpoint:
    """``host`` with the port clients use: the external URL's (443 when it names none)."""
    parts = urlsplit(settings.external_url)
    return Endpoint(host.strip("[]"), parts.port or DEFAULT_HTTPS_PORT)


def cmd_tls_init(settings: Settings, args: argparse.Namespace) -> int:
    """``tls init HOST...``: a private CA and a server certificate, and where clients want it."""
    from harborlite.datadir import secure_data_dir

    secure_data_dir(settings.data_dir)
    files = TlsFiles.of(settings.data_dir)
    hosts: list[str] = list(args.hosts)
    try:
        if args.renew:
            authority.issue_server_certificate(files, hosts)
        else:
            authority.create_authority(files, hosts, force=args.force)
    except AuthorityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    made = "a server certificate" if args.renew else "a private CA and a server certificate"
    print(f"created {made} for {', '.join(hosts)} in {files.folder}")
    print()
    print("\n".join(trust.settings_lines(files.server_cert, files.server_key)))
    if not args.renew:
        print()
        print(
            "\n".join(trust.client_instructions(_tls_endpoint(settings, hosts[0]), files.ca_cert))
        )
    return 0


def cmd_tls_renew(settings: Settings, args: argparse.Namespace) -> int:
    """``tls renew [HOST...]``: a new server certificate from the same CA (clients keep
    trusting it); the names of the current one when none are given."""
    files = TlsFiles.of(settings.data_dir)
    if not args.hosts:
        try:
            args.hosts = authority.server_hosts(files.server_cert)
        except (OSError, ValueError):
            print(
                f"error: no server certificate in {files.folder}: name the hosts", file=sys.stderr
            )
            return 1
    args.renew = True
    return cmd_tls_init(settings, args)


def cmd_tls_show(settings: Settings, args: argparse.Namespace) -> int:
    """``tls show``: the CA in PEM (to hand to clients) and the fingerprints and expiry of the
    CA and server certificates."""
    files = TlsFiles.of(settings.data_dir)
    shown: list[tuple[str, Path]] = []
    if files.ca_cert.exists():
        shown.append(("CA certificate", files.ca_cert))
    if files.server_cert.exists():
        shown.append(("server certificate", files.server_cert))
    if settings.tls_cert is not None and settings.tls_cert != files.server_cert.resolve():
        shown.append(("served certificate (HARBORLITE_TLS_CERT)", settings.tls_cert))
    if not shown:
        print(
            f"error: no certificate in {files.folder} and HARBORLITE_TLS_CERT is not set: "
            "run `harborlite tls init HOST`",
            file=sys.stderr,
        )
        return 1
    try:
        facts = [(label, authority.describe(path)) for label, path in shown]
    except AuthorityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if files.ca_cert.exists():
        print(files.ca_cert.read_text().strip())
        print()
    for label, fact in facts:
        print("\n".join(fact.lines(label)))
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
    for action, what in (
        ("disable", "disable a user: no login, no token, everywhere, until enabled"),
        ("enable", "enable a disabled user again"),
    ):
        toggle = user.add_parser(action, help=what)
        toggle.add_argument("name")
        toggle.set_defaults(func=cmd_user_disable)

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
    quota = sub.add_parser("quota", help="project storage quotas").add_subparsers(
        dest="action", required=True
    )
    recount_parser = quota.add_parser(
        "recount", help="count the projects' usage again from the registry (no name: all)"
    )
    recount_parser.add_argument("projects", nargs="*")
    recount_parser.set_defaults(func=cmd_quota_recount)
    tls = sub.add_parser("tls", help="HTTPS with a private CA").add_subparsers(
        dest="action", required=True
    )
    tinit = tls.add_parser(
        "init", help="create a private CA and a server certificate for HOST... (data folder)"
    )
    tinit.add_argument("hosts", nargs="+", metavar="HOST", help="DNS names or IP addresses")
    tinit.add_argument(
        "--force", action="store_true", help="replace an existing CA and certificate"
    )
    tinit.set_defaults(func=cmd_tls_init, renew=False)
    trenew = tls.add_parser(
        "renew", help="a new server certificate from the same CA (then SIGHUP harborlite)"
    )
    trenew.add_argument("hosts", nargs="*", metavar="HOST", help="default: the current names")
    trenew.set_defaults(func=cmd_tls_renew, force=False)
    tls.add_parser(
        "show", help="print the CA, and the fingerprints and expiry of the certificates"
    ).set_defaults(func=cmd_tls_show)
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
    configure_logging(settings.log_level, settings.log_format)
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())

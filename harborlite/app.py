"""The app factory: surfaces over domains, resources opened in the lifespan."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator

import redis.asyncio
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from harborlite.accounts.lockout import Lockout
from harborlite.accounts.passwords import CredentialCache
from harborlite.api.routes import api_app
from harborlite.artifacts.pulls import PullRecorder
from harborlite.audit.timing import time_audit_writes
from harborlite.auth.access_cache import AccessCache
from harborlite.auth.issued import IssuedTokens
from harborlite.auth.revocation import Revocations
from harborlite.cache.invalidation import ManifestCacheSync
from harborlite.cache.manifests import ManifestCache
from harborlite.events.subscribers import event_subscribers
from harborlite.http.body_rate import BodyRateMiddleware
from harborlite.http.guard import GuardMiddleware
from harborlite.http.request_id import RequestIdMiddleware
from harborlite.http.session_auth import PortalSessionMiddleware
from harborlite.http.zero_copy import ZeroCopyHook
from harborlite.jobs.handlers import job_handlers
from harborlite.jobs.runner import JobRunner
from harborlite.observability.endpoint import metrics_app
from harborlite.observability.metrics import Metrics
from harborlite.observability.requests import METRICS_PATH, ObservedRequests
from harborlite.portal.config import load_portal_config
from harborlite.portal.routes import portal_app
from harborlite.quotas.usage import RegistryWrites
from harborlite.runtime import load_signer, open_database, open_registry, open_upstream
from harborlite.services import Services
from harborlite.settings import Settings
from harborlite.storage.configured import registry_storage
from harborlite.token.endpoint import token_app
from harborlite.v2.budget import BudgetedGateway, ProxyBudget
from harborlite.v2.gateway import RegistryGateway

log = logging.getLogger("harborlite")


TOKEN_PATH = "/service/token"
REGISTRY_PREFIX = "/v2/"  # what Mount("/v2") matches (``/v2`` alone is the portal's)


class Dispatcher:
    """The top of the app: ``/service/token``, asked once per pull and push, goes to its lean
    app behind only the guard, and ``/metrics`` (scraped, never a portal page: no session, no
    catch-all) to its own; so does every path under ``/v2/`` (the registry's hot path: exactly
    the paths Starlette's ``/v2`` mount took, which the portal's session middleware never
    touched). Everything else (and the lifespan) goes to Starlette with its router and the
    portal's session middleware."""

    def __init__(
        self, main: Starlette, token: ASGIApp, metrics: ASGIApp, registry: ASGIApp | None = None
    ) -> None:
        self.main = main
        self.token = token
        self.metrics = metrics
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.registry is not None
            and scope["type"] == "http"
            and scope["path"].startswith(REGISTRY_PREFIX)
        ):
            await self.registry(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == TOKEN_PATH:
            await self.token(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await self.metrics(scope, receive, send)
        else:
            await self.main(scope, receive, send)


def create_app(settings: Settings) -> ZeroCopyHook:
    """The whole app, with sendfile(2) for blob downloads when the server is uvicorn.

    The connection budget's other parts are the server's (:mod:`harborlite.http.connections`,
    given to uvicorn by ``harborlite serve``) and the upstream client's (two pools).

    Every request is counted and timed (:mod:`harborlite.observability.requests`) in this app's
    own metrics registry, served at ``/metrics``."""
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Services]]:
        async with contextlib.AsyncExitStack() as stack:  # closed in reverse order
            database = await stack.enter_async_context(open_database(settings))
            if database.generated_admin_password is not None:
                log.warning(
                    "created user admin with password %s (saved in %s, shown only this once)",
                    database.generated_admin_password,
                    settings.admin_password_file,
                )
            access = AccessCache()
            # a commit touching users, projects, members or robots clears it
            tracked = access.watch(database.sessions)
            time_audit_writes(tracked, metrics.audit_written)
            revocations = Revocations(settings.token_expiration_minutes * 60)
            revocations.watch(tracked)  # this process's revocations apply at commit
            revocations.on_change.append(access.changed)  # and other replicas' when read
            issued = IssuedTokens(settings.token_reuse_ms / 1000)
            revocations.on_change.append(issued.clear)  # no token outlives a revocation
            await revocations.load(database.sessions)
            revocations.start(database.sessions)
            stack.push_async_callback(revocations.stop)
            signer = load_signer(settings)
            registry = await stack.enter_async_context(open_registry(settings))
            if registry.supervisor is None:
                log.info(
                    "using the registry at %s: it must run in token mode trusting %s "
                    "(`harborlite registry-config` prints its configuration)",
                    registry.url,
                    settings.cert_path,
                )
            upstream = await stack.enter_async_context(open_upstream(registry.url, signer))
            manifests = ManifestCache()
            metrics.watch_manifest_cache(manifests)
            upstream.manifest_listeners.append(manifests.registry_wrote)
            # quota usage forgets a manifest the registry deleted
            upstream.manifest_listeners.append(RegistryWrites(database.sessions).registry_wrote)
            manifest_sync = None
            if settings.redis_url:  # invalidation across replicas
                manifest_sync = ManifestCacheSync(settings.redis_url, manifests)
                await manifest_sync.start()
                stack.push_async_callback(manifest_sync.stop)
                upstream.manifest_listeners.append(manifest_sync.published)
            login_redis = None
            if settings.redis_url:  # failed-login counts shared by the replicas
                login_redis = redis.asyncio.Redis.from_url(
                    settings.redis_url, socket_connect_timeout=1, socket_timeout=1
                )
                stack.push_async_callback(login_redis.aclose)
            pulls = PullRecorder(database.sessions)
            pulls.start()
            stack.push_async_callback(pulls.stop)
            jobs = JobRunner(
                database.sessions, job_handlers(settings, upstream), finished=metrics.job_finished
            )
            services = Services(
                settings=settings,
                engine=database.engine,
                sessions=database.sessions,
                signer=signer,
                credentials=CredentialCache(settings.credential_cache_seconds),
                access=access,
                revocations=revocations,
                issued=issued,
                failures=Lockout.from_settings(
                    settings, redis=login_redis, sessions=database.sessions
                ),
                jobs=jobs,
                upstream=upstream,
                pulls=pulls,
                supervisor=registry.supervisor,
                manifests=manifests,
                manifest_sync=manifest_sync,
                storage_root=settings.registry_storage_root,
                storage=registry_storage(settings),
                metrics=metrics,
            )
            pulls.events = services.events  # pulls become PULL_ARTIFACT events
            for name, subscriber, kinds in event_subscribers(settings, database.sessions):
                services.events.subscribe(name, subscriber, kinds)
            stack.push_async_callback(services.events.drain)  # before the database closes
            jobs.start()
            stack.push_async_callback(jobs.stop)  # before the database closes
            # the proxy-cache projects' upstream clients
            stack.push_async_callback(registry_gateway.proxies.close)
            log.info("harborlite is ready at %s (registry %s)", settings.external_url, registry.url)
            yield {"services": services}

    # requests proxied to the registry at once, per user and per address (429 past it)
    registry_gateway = RegistryGateway()
    gateway = BudgetedGateway(registry_gateway, ProxyBudget.from_settings(settings))
    portal = load_portal_config(settings)
    routes = [
        _whole_paths(Mount("/v2", app=gateway)),
        _whole_paths(Mount("/api/v2.0", app=api_app())),
        Mount("/", app=portal_app(portal)),  # the web portal takes every other path
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        PortalSessionMiddleware, idle_minutes=portal.idle_minutes, max_hours=portal.max_hours
    )
    app.add_middleware(GuardMiddleware)
    dispatcher = Dispatcher(
        app, GuardMiddleware(token_app), GuardMiddleware(metrics_app), GuardMiddleware(gateway)
    )
    # the request id first (every log line and metric below sees it), then counted and timed
    observed = RequestIdMiddleware(ObservedRequests(dispatcher, metrics))
    # trickling request bodies are cut off (inside the hook: it needs uvicorn's own send)
    rated = BodyRateMiddleware(
        observed, settings.min_body_rate, float(settings.body_rate_window_seconds)
    )
    return ZeroCopyHook(rated)


def _whole_paths(mount: Mount) -> Mount:
    """Starlette's mount pattern (``.*``) stops at a newline: a path holding ``%0A`` would fall
    through to the portal's 404 page instead of reaching its surface and its envelope."""
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount

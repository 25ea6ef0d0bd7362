"""The app factory: surfaces over domains, resources opened in the lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from harborlite.accounts.passwords import CredentialCache
from harborlite.api.routes import api_app
from harborlite.artifacts.pulls import PullRecorder
from harborlite.auth.access_cache import AccessCache
from harborlite.auth.tokens import TokenSigner
from harborlite.bootstrap import ensure_initial_state, prepare_data_dir
from harborlite.cache.invalidation import ManifestCacheSync
from harborlite.cache.manifests import ManifestCache
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.http.guard import GuardMiddleware
from harborlite.http.request_id import RequestIdMiddleware
from harborlite.http.session_auth import PortalSessionMiddleware
from harborlite.http.zero_copy import ZeroCopyHook
from harborlite.portal.config import load_portal_config
from harborlite.portal.routes import portal_app
from harborlite.services import Services
from harborlite.settings import Settings
from harborlite.token.endpoint import token_app
from harborlite.upstream.client import Upstream
from harborlite.upstream.supervisor import RegistrySupervisor
from harborlite.v2.gateway import RegistryGateway

log = logging.getLogger("harborlite")


TOKEN_PATH = "/service/token"


class Dispatcher:
    """The top of the app: ``/service/token``, asked once per pull and push, goes to its lean
    app behind only the request id and the guard; everything else (and the lifespan) goes to
    Starlette with its router and the portal's session middleware."""

    def __init__(self, main: Starlette, token: ASGIApp) -> None:
        self.main = main
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == TOKEN_PATH:
            await self.token(scope, receive, send)
        else:
            await self.main(scope, receive, send)


def create_app(settings: Settings) -> ZeroCopyHook:
    """The whole app, with sendfile(2) for blob downloads when the server is uvicorn."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Services]]:
        prepare_data_dir(settings)
        engine = make_engine(settings.database_url)
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        access = AccessCache()
        access.watch(sessions)  # every commit touching users, projects or members clears it
        async with sessions() as session:
            generated = await ensure_initial_state(session, settings)
        if generated is not None:
            log.warning(
                "created user admin with password %s (saved in %s, shown only this once)",
                generated,
                settings.admin_password_file,
            )
        signer = TokenSigner.load(
            settings.key_path,
            settings.cert_path,
            issuer=settings.token_issuer,
            service=settings.token_service,
            expiration_seconds=settings.token_expiration_minutes * 60,
        )
        supervisor = None
        if settings.embedded_registry:
            supervisor = RegistrySupervisor(settings)
            await supervisor.start()
            registry_url = supervisor.url
        else:
            assert settings.registry_url is not None
            registry_url = settings.registry_url
            storage = settings.external_registry_storage
            if storage is not None and not storage.is_dir():
                raise SystemExit(
                    f"HARBORLITE_REGISTRY_STORAGE={storage} is not a folder harborlite can read"
                )
            log.info(
                "using the registry at %s: it must run in token mode trusting %s "
                "(`harborlite registry-config` prints its configuration)",
                registry_url,
                settings.cert_path,
            )
        pulls = PullRecorder(sessions)
        pulls.start()
        upstream = Upstream.open(registry_url, signer)
        manifests = ManifestCache()
        upstream.manifest_listeners.append(manifests.registry_wrote)
        manifest_sync = None
        if settings.redis_url:  # invalidation across replicas
            manifest_sync = ManifestCacheSync(settings.redis_url, manifests)
            await manifest_sync.start()
            upstream.manifest_listeners.append(manifest_sync.published)
        services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            signer=signer,
            credentials=CredentialCache(settings.credential_cache_seconds),
            access=access,
            upstream=upstream,
            pulls=pulls,
            supervisor=supervisor,
            manifests=manifests,
            manifest_sync=manifest_sync,
            storage_root=settings.registry_storage_root,
        )
        log.info("harborlite is ready at %s (registry %s)", settings.external_url, registry_url)
        try:
            yield {"services": services}
        finally:
            await pulls.stop()
            if manifest_sync is not None:
                await manifest_sync.stop()
            await upstream.close()
            if supervisor is not None:
                await supervisor.stop()
            await engine.dispose()

    gateway = RegistryGateway()
    portal = load_portal_config(settings)
    routes = [
        Mount("/v2", app=gateway),
        Mount("/api/v2.0", app=api_app()),
        Mount("/", app=portal_app(portal)),  # the web portal takes every other path
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        PortalSessionMiddleware, idle_minutes=portal.idle_minutes, max_hours=portal.max_hours
    )
    app.add_middleware(GuardMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return ZeroCopyHook(Dispatcher(app, RequestIdMiddleware(GuardMiddleware(token_app))))

"""The ``replication`` job handler as the runner calls it, with what it needs composed in."""

from __future__ import annotations

from harborlite.auth.tokens import TokenSigner
from harborlite.endpoints.queries import Endpoint
from harborlite.jobs.runner import Handler, JobContext
from harborlite.remote.client import RemoteRegistry
from harborlite.replication.job import run_replication
from harborlite.replication.local import LocalRegistry, own_url
from harborlite.sealing import SecretBox
from harborlite.settings import Settings
from harborlite.webhooks.enqueue import host_of


def replication_handler(settings: Settings, signer: TokenSigner) -> Handler:
    """Runs replication executions: the local side through this process's own ``/v2/``
    (where it listens), remote sides through their endpoints."""
    secrets = SecretBox.for_data_dir(settings.data_dir)
    base = own_url(settings.host, settings.port, settings.tls_cert is not None)

    def sides(endpoint: Endpoint | None) -> RemoteRegistry:
        if endpoint is None:
            return LocalRegistry(base, signer)
        return RemoteRegistry(endpoint, user_agent="harborlite-replication")

    async def replication(context: JobContext) -> None:
        await run_replication(
            context,
            sides,
            secrets,
            settings.replication_retries,
            host=host_of(settings.external_url),
        )

    return replication

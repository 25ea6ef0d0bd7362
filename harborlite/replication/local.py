"""The local side of a replication: harborlite's own ``/v2/``, as a registry client.

Why through ``/v2/`` and not the backend registry directly: a pull-based copy then goes through
exactly what a client's push goes through (quotas, immutable tags, the artifact index, the
audit log and the push events, so webhooks and event-based policies follow), and a push-based
copy reads what a client would read. The client is :class:`~harborlite.remote.client.
RemoteRegistry` (the same one the remote side uses, so both sides behave alike); only its
authentication differs: instead of asking the token service, every request carries a
short-lived token harborlite signs itself (:class:`~harborlite.auth.tokens.TokenSigner`) with
exactly the scope the request needs, for the actor ``replication`` (what the audit log shows).
"""

from __future__ import annotations

from harborlite.auth.scopes import Access
from harborlite.auth.tokens import TokenSigner
from harborlite.endpoints.queries import Endpoint
from harborlite.remote.client import RemoteRegistry

ACTOR = "replication"
LOCAL_NAME = "Local"
TOKEN_SECONDS = 300


def local_endpoint(base_url: str, *, insecure: bool = True) -> Endpoint:
    """harborlite itself at ``base_url`` (its listening address; loopback TLS unverified)."""
    return Endpoint(
        id=0,
        name=LOCAL_NAME,
        type="harbor",
        url=base_url,
        insecure=insecure,
        ca_pem=None,
        username=None,
        password=None,
        rate_per_second=None,
        description="this harborlite",
        status="healthy",
    )


def accesses_of(scope: str) -> list[Access]:
    """``repository:a:pull,push repository:b:pull`` as token access entries."""
    found: list[Access] = []
    for one in scope.split():
        kind, _, rest = one.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind and name:
            found.append(Access(kind, name, tuple(a for a in actions.split(",") if a)))
    return found


class LocalRegistry(RemoteRegistry):
    """harborlite's own ``/v2/`` with self-signed tokens (see the module's text)."""

    def __init__(self, base_url: str, signer: TokenSigner, *, actor: str = ACTOR) -> None:
        super().__init__(local_endpoint(base_url), user_agent="harborlite-replication")
        self.signer = signer
        self.actor = actor

    async def _authorization(self, scope: str) -> dict[str, str]:
        if not scope:
            return {}
        token, _, _ = self.signer.sign(
            self.actor, accesses_of(scope), expiration_seconds=TOKEN_SECONDS
        )
        return {"Authorization": f"Bearer {token}"}


def own_url(host: str, port: int, tls: bool) -> str:
    """Where this process listens, as a client on this machine reaches it."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"{'https' if tls else 'http'}://{shown}:{port}"

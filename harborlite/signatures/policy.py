"""The decision a ``/v2/`` manifest pull asks for: may ``repository:reference`` be pulled under
its project's cosign policy?

Never blocked: a project without ``enable_content_trust_cosign``; a caller with push rights
on the repository (the signer fetches the manifest it is about to sign, as Harbor lets cosign
through); a scanner's pull (its token carries ``scanner-pull``); a manifest that is itself an
accessory (a signature, an SBOM: the verifier reads them); a reference the registry does not
hold (it answers 404 itself). A platform image listed by an index passes when the index does
(cosign signs the index a multi-arch tag names).

Otherwise the verdict of :func:`harborlite.signatures.verdict.judge` over the signatures on the
digest: the legacy ``sha256-<hex>.sig`` ones found through the artifact index
(:func:`harborlite.artifacts.accessories.signatures_of`), and that tag in the registry when the
index does not know it; and cosign's OCI 1.1 referrers: cosign 3's Sigstore bundles
(:mod:`harborlite.signatures.bundle`) and cosign 2's simple-signing referrers. Without keys a
referrer's presence is enough (Harbor's check).
"""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts.accessories import BY_TAG, SIGNATURE_COSIGN, signatures_of
from harborlite.errors import HarborliteError, RegistryRefused
from harborlite.oci.mediatypes import SIGSTORE_BUNDLE_V03
from harborlite.oci.reference import is_digest
from harborlite.signatures import queries
from harborlite.signatures.bundle import read_bundle_signatures
from harborlite.signatures.cache import PolicyCache, ProjectPolicy, VerdictCache
from harborlite.signatures.legacy import read_signatures, signature_tag
from harborlite.signatures.verdict import ALLOWED, Signature, Verdict, judge
from harborlite.upstream.calls import ACCEPT
from harborlite.upstream.client import Upstream

BYPASS_ACTIONS = ("push", "scanner-pull", "*")
UNREADABLE = "The image's cosign signatures cannot be read from the registry now: try again later."
MAX_PARENT_DEPTH = 2
MAX_REFERRERS = 16  # signature referrers read per digest

Generation = Callable[[str], "int | None"]


class SignedPulls:
    """The app's pull decisions: its policy cache and its verdict cache."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        upstream: Upstream,
        generation: Generation,
    ) -> None:
        self.sessions = sessions
        self.upstream = upstream
        self.generation = generation
        self.policies = PolicyCache(sessions)
        self.verdicts = VerdictCache()

    async def refusal(
        self, project: str, repository: str, reference: str, granted: frozenset[str]
    ) -> str | None:
        """Why the pull is refused, or None. ``granted``: the caller's actions on the
        repository."""
        if granted & set(BYPASS_ACTIONS):
            return None
        policy = await self.policies.policy(project)
        if not policy.required:
            return None
        verdict = await self.verdict(policy, repository, reference)
        return None if verdict.allowed else verdict.message

    async def verdict(self, policy: ProjectPolicy, repository: str, reference: str) -> Verdict:
        generation = self.generation(repository)  # before anything is read
        if generation is not None:
            kept = self.verdicts.get(repository, reference, policy.key_set, generation)
            if kept is not None:
                return kept
        try:
            verdict = await self._judged(policy, repository, reference, 0)
        except HarborliteError:  # the registry did not answer: refused, and not kept
            return Verdict(False, UNREADABLE)
        if generation is not None:
            self.verdicts.keep(repository, reference, policy.key_set, generation, verdict)
        return verdict

    async def _judged(
        self, policy: ProjectPolicy, repository: str, reference: str, depth: int
    ) -> Verdict:
        async with self.sessions() as session:
            digest = reference if is_digest(reference) else None
            if digest is None:
                digest = await queries.digest_of_tag(session, repository, reference)
            if digest is None:
                digest = await self._registry_digest(repository, reference)
                if digest is None:
                    return ALLOWED  # the registry answers 404 itself
            if await queries.is_accessory(session, repository, digest):
                return ALLOWED
            refs = [
                ref
                for ref in await signatures_of(session, repository, digest)
                if ref.type == SIGNATURE_COSIGN
            ]
            parents = await queries.parent_digests(session, repository, digest)
        signatures: list[Signature] = []
        legacy = [ref.digest for ref in refs if ref.source == BY_TAG]
        if not legacy:
            found = await self._registry_digest(repository, signature_tag(digest))
            legacy = [found] if found is not None else []
        referrers = [ref for ref in refs if ref.source != BY_TAG]
        if referrers and not policy.keys:
            return ALLOWED  # Harbor's check: a cosign signature exists
        for manifest in legacy:
            signatures.extend(await read_signatures(self.upstream, repository, manifest))
        for ref in referrers[:MAX_REFERRERS]:
            if ref.artifact_type == SIGSTORE_BUNDLE_V03:
                signatures.extend(
                    await read_bundle_signatures(self.upstream, repository, ref.digest)
                )
            else:  # cosign 2's referrer: simple-signing layers, as the legacy layout
                signatures.extend(await read_signatures(self.upstream, repository, ref.digest))
        verdict = judge(signatures, policy.keys, repository, digest)
        if verdict.allowed or depth >= MAX_PARENT_DEPTH:
            return verdict
        for parent in parents:
            if (await self._judged(policy, repository, parent, depth + 1)).allowed:
                return ALLOWED
        return verdict

    async def _registry_digest(self, repository: str, reference: str) -> str | None:
        """What the registry says ``reference`` names (None: nothing); raises when it cannot
        tell."""
        status, headers, _ = await self.upstream.fetch(
            "HEAD",
            repository,
            f"/v2/{repository}/manifests/{reference}",
            ("pull",),
            {"Accept": ACCEPT},
        )
        if status == 404:
            return None
        if status != 200:
            raise RegistryRefused(f"the registry answered {status} for {repository}:{reference}")
        return headers.get("Docker-Content-Digest")


_APPS: WeakKeyDictionary[async_sessionmaker[AsyncSession], SignedPulls] = WeakKeyDictionary()


def signed_pulls(
    sessions: async_sessionmaker[AsyncSession], upstream: Upstream, generation: Generation
) -> SignedPulls:
    """The decisions of the app whose session factory is ``sessions``."""
    found = _APPS.get(sessions)
    if found is None:
        found = _APPS[sessions] = SignedPulls(sessions, upstream, generation)
    return found

"""Media types of manifests, configs and layers, and the sets the registry accepts."""

from __future__ import annotations

# Manifest media types.
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


OCI_INDEX = "application/vnd.oci.image.index.v1+json"


# Config media types.
DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"


OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"


OCI_EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


HELM_CHART_CONFIG = "application/vnd.cncf.helm.config.v1+json"


CNAB_CONFIG = "application/vnd.cnab.config.v1+json"


CNAB_MANIFEST = "application/vnd.cnab.manifest.v1"


ORAS_UNKNOWN_CONFIG = "application/vnd.unknown.config.v1+json"


# Layer media type given to schema1 layers, which carry none.
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


# Signature hints (Harbor calls these accessories).
COSIGN_SIGNATURE_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"


NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature"


# cosign 2 with ``--registry-referrers-mode=oci-1-1``: an OCI 1.1 referrer of this type.
COSIGN_ARTIFACT_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


# cosign 3's default: a Sigstore bundle pushed as an OCI 1.1 referrer.
SIGSTORE_BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


# Harbor's own SBOM accessory.
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"


# Index annotation in which cnab-to-oci puts the bundle's media type.
ARTIFACT_TYPE_ANNOTATION = "org.opencontainers.artifactType"


MANIFEST_MEDIA_TYPES: frozenset[str] = frozenset(
    {
        DOCKER_MANIFEST_V2,
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST_V1_SIGNED,
        DOCKER_MANIFEST_V1,
        OCI_MANIFEST,
        OCI_INDEX,
    }
)


INDEX_MEDIA_TYPES: frozenset[str] = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})


IMAGE_MANIFEST_MEDIA_TYPES: frozenset[str] = frozenset({OCI_MANIFEST, DOCKER_MANIFEST_V2})


SCHEMA1_MEDIA_TYPES: frozenset[str] = frozenset({DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V1})


MAX_MANIFEST_BYTES = 4 * 1024 * 1024

"""Kubernetes pull secrets made from a docker login, pulled as kubelet pulls: containerd's CRI.

The common way to make an image pull secret is to copy docker's ``config.json`` after a
``docker login``::

    kubectl create secret generic regcred \\
        --from-file=.dockerconfigjson=$HOME/.docker/config.json \\
        --type=kubernetes.io/dockerconfigjson

kubelet reads that file with its credentialprovider (``pkg/credentialprovider/config.go``):
for each ``auths`` entry it takes ``username`` and ``password``, and when ``auth`` is there it
decodes it (base64 of ``USER:PASSWORD``) and uses that instead. ``identitytoken`` is never read.
The user and password go to containerd's CRI plugin in ``PullImageRequest.auth``; that is what
:class:`tests.support.cri.CriImageClient` sends here. So the secret works only if docker kept
the password in ``auth``: harborlite gives docker no refresh token (which docker would keep as
``identitytoken``, with an empty password in ``auth``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import PASSWORD, Team
from tests.harness import Harborlite
from tests.support.cri import CriImageClient
from tests.support.docker import DockerCli, Dockerd
from tests.support.processes import Containerd

pytestmark = pytest.mark.both_databases

LAYERS = (5_000, 1_500)


@dataclass(frozen=True)
class PrivateImage:
    ref: str  # HOST/PROJECT/REPO:TAG, in the team's private project
    digest: str  # the manifest digest docker pushed


def decode_auth(field: str) -> tuple[str, str]:
    """kubelet's decodeDockerConfigFieldAuth: padded or unpadded base64 of ``user:password``."""
    text = field.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"auth is not base64: {error}") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise ValueError("must be formatted as base64(username:password)")
    return user, password


def _registry_host(key: str) -> str:
    """An ``auths`` key as kubelet matches it: the host and port, with or without a scheme."""
    return urlsplit(key if "://" in key else f"//{key}").netloc


def kubelet_credentials(dockerconfigjson: bytes, image: str) -> list[tuple[str, str]]:
    """The (user, password) pairs kubelet hands the CRI for ``image`` from a
    ``kubernetes.io/dockerconfigjson`` secret's ``.dockerconfigjson``."""
    host = image.split("/", 1)[0]
    creds = []
    for key, entry in json.loads(dockerconfigjson)["auths"].items():
        if _registry_host(key) != host:
            continue
        user, password = str(entry.get("username", "")), str(entry.get("password", ""))
        if entry.get("auth"):
            user, password = decode_auth(str(entry["auth"]))
        creds.append((user, password))
    return creds


def kubectl_docker_registry_secret(server: str, user: str, password: str, email: str) -> bytes:
    """What ``kubectl create secret docker-registry --docker-server= --docker-username=
    --docker-password= --docker-email=`` stores as ``.dockerconfigjson``."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    entry = {"username": user, "password": password, "email": email, "auth": auth}
    return json.dumps({"auths": {server: entry}}).encode()


@pytest.fixture(scope="module")
def private_image(
    harborlite: Harborlite,
    team: Team,
    dockerd: Dockerd,
    tmp_path_factory: pytest.TempPathFactory,
) -> PrivateImage:
    """An image the team's developer pushed with docker into the private project."""
    folder = tmp_path_factory.mktemp("secret-image")
    docker = dockerd.cli(folder / "docker-config")
    name = harborlite.unique("kube")
    ref = f"{harborlite.host}/{team.project}/{name}:1.35.0"
    docker.build_scratch(folder / "context", ref, LAYERS, seed=2001)
    docker.login(harborlite.host, *team.creds("developer"))
    pushed = docker.push(ref).stdout
    digest = pushed.strip().splitlines()[-1].split()[2]
    assert digest.startswith("sha256:"), pushed
    docker.rmi(ref)
    return PrivateImage(ref, digest)


@pytest.fixture
def cri(tmp_path: Path) -> Iterator[CriImageClient]:
    """containerd's CRI image service, as kubelet reaches it (images in ``k8s.io``)."""
    with Containerd(tmp_path / "containerd", cri=True) as containerd:
        yield CriImageClient(containerd.socket, log_path=containerd.log_path)


def test_docker_login_keeps_the_password_in_config_json(
    harborlite: Harborlite, team: Team, docker: DockerCli
) -> None:
    user, password = team.creds("guest")
    login = docker.login(harborlite.host, user, password)
    entry = docker.config()["auths"][harborlite.host]  # type: ignore[index]
    assert isinstance(entry, dict)
    assert "identitytoken" not in entry, entry
    assert decode_auth(entry["auth"]) == (user, password)
    # docker says so itself when it keeps the password (and only then)
    config = docker.config_dir / "config.json"
    assert f"WARNING! Your password will be stored unencrypted in {config}." in login.stderr


def test_pull_secret_copied_from_docker_config_json(
    harborlite: Harborlite,
    team: Team,
    docker: DockerCli,
    private_image: PrivateImage,
    cri: CriImageClient,
) -> None:
    """`kubectl create secret generic regcred --from-file=.dockerconfigjson=config.json`:
    the secret is docker's config.json, byte for byte; kubelet's credentials from it pull."""
    docker.login(harborlite.host, *team.creds("guest"))
    secret = (docker.config_dir / "config.json").read_bytes()
    creds = kubelet_credentials(secret, private_image.ref)
    assert creds == [team.creds("guest")]
    for user, password in creds:
        cri.pull_image(private_image.ref, creds=(user, password))
    status = cri.image_status(private_image.ref)
    assert status is not None and private_image.ref in status.repo_tags
    repository = private_image.ref.rsplit(":", 1)[0]
    assert f"{repository}@{private_image.digest}" in status.repo_digests


def test_pull_secret_made_with_docker_username_and_password(
    harborlite: Harborlite, team: Team, private_image: PrivateImage, cri: CriImageClient
) -> None:
    """The article's `kubectl create secret docker-registry harbor-auth --docker-server=https://HOST
    --docker-username=... --docker-password=...`: the credentials given directly."""
    user, password = team.creds("guest")
    secret = kubectl_docker_registry_secret(
        f"https://{harborlite.host}", user, password, f"{user}@example.com"
    )
    creds = kubelet_credentials(secret, private_image.ref)
    assert creds == [(user, PASSWORD)]
    by_digest = f"{private_image.ref.rsplit(':', 1)[0]}@{private_image.digest}"
    cri.pull_image(by_digest, creds=creds[0])  # as the article's `crictl pull ...@sha256:`
    status = cri.image_status(by_digest)
    assert status is not None and by_digest in status.repo_digests


def test_kubelet_reads_auth_before_username_and_password() -> None:
    """The reader above is kubelet's: ``auth`` wins over ``username``/``password``, and an
    ``identitytoken`` is not a credential (so ``auth`` = ``USER:`` means an empty password)."""
    secret = json.dumps(
        {
            "auths": {
                "127.0.0.1:5000": {
                    "username": "ignored",
                    "password": "ignored",
                    "auth": base64.b64encode(b"admin:").decode().rstrip("="),
                    "identitytoken": "eyJhbGciOi...",
                },
                "other.example:5000": {"username": "u", "password": "p"},
            }
        }
    ).encode()
    assert kubelet_credentials(secret, "127.0.0.1:5000/library/busybox:1.35.0") == [("admin", "")]
    assert kubelet_credentials(secret, "other.example:5000/x/y:1") == [("u", "p")]
    with pytest.raises(ValueError, match="base64"):
        decode_auth(base64.b64encode(b"no colon").decode())

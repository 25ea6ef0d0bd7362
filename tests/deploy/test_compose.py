"""docker-compose.yml brought up for real: nginx with TLS in front of two harborlite replicas,
the registry, PostgreSQL, Redis and moto, all from images built here (tests/deploy/images.py),
on the test's own dockerd. docker pushes and pulls through the load balancer with the CA that
``harborlite tls init`` made in its ``certs.d``, and pulls still work with one replica stopped.

The compose file is used as it is (its own network, the published port): only the variables
change (the images, the port, the host name). The published port is bound to this machine's
non-loopback address when it has one, because docker trusts any registry on 127.0.0.0/8 without
checking its certificate; there, docker must verify the server certificate against the CA.

Time: the first run on a machine builds the images (about 3 minutes, in parallel, plus the
debootstrap base if it is not cached); later runs load them from the cache (about a minute),
and the stack is up in about 40 s.
"""

from __future__ import annotations

import random
import re
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.images import harborlite_image, service_images
from tests.harness import ROOT
from tests.support.base_image import base_image
from tests.support.docker import Compose, DockerCli, Dockerd
from tests.support.processes import free_port

pytestmark = pytest.mark.timeout(1800)

ADMIN_PASSWORD = "Compose-Admin-1"
DOCKER_CERTS = Path("/etc/docker/certs.d")


@dataclass(frozen=True)
class Stack:
    compose: Compose
    host: str  # host:port, as clients name images
    ca: Path

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def trust(self) -> ssl.SSLContext:
        """What a client that trusts the stack's CA verifies with."""
        return ssl.create_default_context(cafile=self.ca)


def published_address() -> str:
    """This machine's first global IPv4 address (docker verifies TLS there), else loopback."""
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", shown)
    return found.group(1) if found else "127.0.0.1"


@pytest.fixture(scope="module")
def stack(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    docker = dockerd.cli(tmp_path_factory.mktemp("compose-docker-config"))
    base = base_image(docker)
    services = service_images(docker, base)
    harborlite = harborlite_image(docker, base)
    print(f"{base.describe()}\n{services.describe()}\n{harborlite.describe()}")
    address, port = published_address(), free_port()
    host = f"{address}:{port}"
    variables = {
        **services.tags,
        "HARBORLITE_IMAGE": harborlite.tags[""],
        "HARBORLITE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "HARBORLITE_HOSTNAME": address,
        "HARBORLITE_EXTERNAL_URL": f"https://{host}",
        "HARBORLITE_BIND_ADDRESS": address,
        "HARBORLITE_HTTPS_PORT": str(port),
        # a subnet of its own, clear of the machine's networks
        "HARBORLITE_SUBNET_PREFIX": f"172.31.{random.randint(100, 254)}",
    }
    compose = Compose(docker, ROOT, f"hl{uuid.uuid4().hex[:10]}", variables)
    certs = DOCKER_CERTS / host
    try:
        compose.run("up", "--detach", "--no-build", timeout=600)
        ca = tmp_path_factory.mktemp("compose-ca") / "ca.crt"
        ca.write_text(compose.run("exec", "-T", "nginx", "cat", "/harborlite/tls/ca.crt").stdout)
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca, certs / "ca.crt")  # docker reads it at each connection
        yield Stack(compose, host, ca)
    except BaseException:
        print(compose.logs())
        raise
    finally:
        shutil.rmtree(certs, ignore_errors=True)
        compose.run("down", "--volumes", "--remove-orphans", check=False, timeout=300)


def test_the_load_balancer_serves_tls_with_the_ca_from_tls_init(stack: Stack) -> None:
    health = httpx.get(f"{stack.url}/api/v2.0/health", verify=stack.trust, timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    components = {c["name"]: c["status"] for c in health.json()["components"]}
    assert components["database"] == components["redis"] == components["registry"] == "healthy"
    # the challenge names the external https URL, through the proxy
    challenge = httpx.get(f"{stack.url}/v2/", verify=stack.trust, timeout=10)
    assert challenge.status_code == 401
    assert f'realm="{stack.url}/service/token"' in challenge.headers["www-authenticate"]
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{stack.url}/v2/", verify=ssl.create_default_context(), timeout=10)


def test_push_and_pull_through_the_load_balancer_survive_a_stopped_replica(
    stack: Stack, docker: DockerCli, tmp_path: Path
) -> None:
    docker.login(stack.host, "admin", ADMIN_PASSWORD)
    local = docker.build_scratch(
        tmp_path / "context", "compose-probe:v1", [50_000, 400_000], seed=13
    )
    ref = f"{stack.host}/library/compose-app:v1"
    docker.tag(local, ref)
    pushed = re.search(r"v1: digest: (sha256:[0-9a-f]{64})", docker.push(ref).stdout)
    assert pushed
    pull_back(docker, ref, local, pushed.group(1))
    # the load balancer spread the requests over both replicas
    for replica in ("harborlite-1", "harborlite-2"):
        assert "/v2/" in stack.compose.logs(replica), replica

    stack.compose.run("stop", "harborlite-1")
    try:
        stopped = stack.compose.container("harborlite-1")
        running = stack.compose.docker.run("inspect", "--format", "{{.State.Running}}", stopped)
        assert running.stdout.strip() == "false"
        for _ in range(3):  # more than one request lands where harborlite-1 was
            pull_back(docker, ref, ref, pushed.group(1))
        health = httpx.get(f"{stack.url}/api/v2.0/health", verify=stack.trust, timeout=10)
        assert health.status_code == 200
    finally:
        stack.compose.run("start", "harborlite-1")


def pull_back(docker: DockerCli, ref: str, local: str, digest: str) -> None:
    docker.rmi(ref, local)
    assert not docker.has_image(ref)
    pulled = re.search(r"Digest: (sha256:[0-9a-f]{64})", docker.pull(ref).stdout)
    assert pulled and pulled.group(1) == digest

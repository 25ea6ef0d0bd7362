"""Where each client wants the private CA, for one ``HOST:PORT``: what ``tls init`` prints.

The folder names follow the clients' own rules: docker and containers/image (podman, skopeo)
look in ``certs.d/<host>:<port>/`` (just ``<host>`` on port 443), containerd (nerdctl, crictl,
kubelet through the CRI plugin) in the ``hosts.toml`` folder of the same name under its
``config_path``. An IPv6 address is written in brackets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_HTTPS_PORT = 443


@dataclass(frozen=True)
class Endpoint:
    """A registry address as clients write it in image names (``HOST[:PORT]``)."""

    host: str
    port: int

    @property
    def name(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_HTTPS_PORT else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.name}"


def hosts_toml(endpoint: Endpoint, ca_path: str) -> str:
    """containerd's ``certs.d/HOST:PORT/hosts.toml`` for a registry served with a private CA."""
    return (
        f'server = "{endpoint.url}"\n'
        "\n"
        f'[host."{endpoint.url}"]\n'
        '  capabilities = ["pull", "resolve", "push"]\n'
        f'  ca = "{ca_path}"\n'
    )


def settings_lines(server_cert: Path, server_key: Path) -> list[str]:
    return [
        "Serve HTTPS with these settings (restart harborlite once; later, after "
        "`harborlite tls renew`, `kill -HUP PID` reloads the certificate):",
        f"  HARBORLITE_TLS_CERT={server_cert}",
        f"  HARBORLITE_TLS_KEY={server_key}",
    ]


def client_instructions(endpoint: Endpoint, ca_cert: Path) -> list[str]:
    """Lines telling, for every client the article uses, where ``ca_cert`` goes."""
    name = endpoint.name
    containerd_dir = f"/etc/containerd/certs.d/{name}"
    toml = hosts_toml(endpoint, f"{containerd_dir}/ca.crt")
    lines = [
        f"Clients trust harborlite at {name} once they have its CA ({ca_cert}):",
        "",
        "docker (no restart needed):",
        f"  mkdir -p /etc/docker/certs.d/{name}",
        f"  cp {ca_cert} /etc/docker/certs.d/{name}/ca.crt",
        "",
        "containerd: nerdctl, crictl and kubelet (the CRI plugin):",
        f"  mkdir -p {containerd_dir}",
        f"  cp {ca_cert} {containerd_dir}/ca.crt",
        f"  and write {containerd_dir}/hosts.toml:",
        *(f"    {line}" if line else "" for line in toml.splitlines()),
        "  the CRI plugin reads it when /etc/containerd/config.toml has",
        '    [plugins."io.containerd.grpc.v1.cri".registry]',
        '      config_path = "/etc/containerd/certs.d"',
        "  (restart containerd once after adding config_path; nerdctl reads certs.d itself)",
        "",
        "podman, skopeo (containers/image):",
        f"  mkdir -p /etc/containers/certs.d/{name}",
        f"  cp {ca_cert} /etc/containers/certs.d/{name}/ca.crt",
        f"  or per command: --cert-dir DIR (DIR holding ca.crt), e.g. "
        f"skopeo login --cert-dir DIR {name}",
        "",
        "ctr (containerd's own client):",
        f"  ctr images pull --tlscacert {ca_cert} {name}/PROJECT/IMAGE:TAG",
        "  or --hosts-dir /etc/containerd/certs.d (the folder above)",
        "",
        "Kubernetes node (kubelet pulls through containerd's CRI plugin): on every node, the",
        f"  containerd files above: {containerd_dir}/ca.crt and hosts.toml, and config_path",
        "  in /etc/containerd/config.toml",
    ]
    return lines

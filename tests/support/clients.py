"""Thin wrappers around the real registry clients, with the flags that work on this machine.

Every CLI wrapper returns the `CompletedProcess` and raises `ClientError` (argv with secrets
masked, exit status, stdout, stderr) when the client fails.

Isolation of skopeo and podman (containers/image 5.23): both keep a blob-info cache that, for
root, lives in `/var/lib/containers/cache` and remembers which repository already holds a blob,
so a later push to another repository of the same registry tries a cross-repository mount. The
location has no flag; containers/image picks the root path when its idea of the effective uid,
`rootless.GetRootlessEUID()`, is 0, and that function reads `_CONTAINERS_ROOTLESS_UID` first.
With `_CONTAINERS_ROOTLESS_UID=1000` and `XDG_DATA_HOME=DIR` the cache moves to
`DIR/containers/cache` (checked: nothing is written to /var/lib/containers, and skopeo, podman
pull/push and login keep working as root). `ContainersHome` sets that, plus its own HOME,
XDG_RUNTIME_DIR, registries.conf, containers.conf, policy.json and auth file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .commands import ClientError, Creds, run_client
from .processes import which

__all__ = ["ClientError", "Creds", "run_client"]


class ContainersHome:
    """A private configuration home for containers/image clients (skopeo, podman).

    Holds registries.conf (no search registries, no mirrors), containers.conf, an
    accept-anything policy.json, an auth file and the blob-info cache (see module doc).
    Pass one to several calls to share login state and the cache (so cross-repository mounts
    happen, as for a real user); calls without one get a fresh, throwaway home each.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        for name in ("home", "run", "data", "tmp"):
            (directory / name).mkdir(parents=True, exist_ok=True)
        (directory / "run").chmod(0o700)
        self.registries_conf = directory / "registries.conf"
        self.registries_conf.write_text("unqualified-search-registries = []\n")
        self.containers_conf = directory / "containers.conf"
        self.containers_conf.write_text(
            '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
        )
        self.policy = directory / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.authfile = directory / "auth.json"
        if not self.authfile.exists():
            # podman refuses a REGISTRY_AUTH_FILE that does not exist.
            self.authfile.write_text('{"auths": {}}')

    @property
    def blob_info_cache(self) -> Path:
        return self.directory / "data" / "containers" / "cache"

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "HOME": str(self.directory / "home"),
            "TMPDIR": str(self.directory / "tmp"),
            "XDG_RUNTIME_DIR": str(self.directory / "run"),
            "XDG_CONFIG_HOME": str(self.directory / "home" / ".config"),
            "XDG_DATA_HOME": str(self.directory / "data"),
            "_CONTAINERS_ROOTLESS_UID": "1000",
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "CONTAINERS_CONF": str(self.containers_conf),
            "REGISTRY_AUTH_FILE": str(self.authfile),
        }


@contextmanager
def _home_for(home: ContainersHome | None) -> Iterator[ContainersHome]:
    if home is not None:
        yield home
        return
    directory = Path(tempfile.mkdtemp(prefix="harborlite-containers-"))
    try:
        yield ContainersHome(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _skopeo(
    args: Sequence[str],
    home: ContainersHome | None,
    authfile: Path | None,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    with _home_for(home) as h:
        env = h.env()
        if authfile is not None:
            env["REGISTRY_AUTH_FILE"] = str(authfile)
        argv = [which("skopeo") or "/usr/bin/skopeo", "--policy", str(h.policy), *args]
        return run_client(argv, env=env, input=input, check=check)


def _authfile_args(authfile: Path | None) -> list[str]:
    return ["--authfile", str(authfile)] if authfile is not None else []


def skopeo_login(
    host: str,
    user: str,
    password: str,
    authfile: Path,
    *,
    tls_verify: bool = False,
    home: ContainersHome | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`skopeo login HOST` storing the credentials in `authfile` (password on stdin)."""
    args = [
        "login",
        f"--tls-verify={str(tls_verify).lower()}",
        "--authfile",
        str(authfile),
        "--username",
        user,
        "--password-stdin",
        host,
    ]
    return _skopeo(args, home, authfile, input=password, check=check)


def skopeo_logout(
    host: str, authfile: Path, *, home: ContainersHome | None = None
) -> subprocess.CompletedProcess[str]:
    return _skopeo(["logout", "--authfile", str(authfile), host], home, authfile)


def skopeo_copy(
    src: str,
    dst: str,
    *,
    creds: Creds | None = None,
    authfile: Path | None = None,
    tls_verify: bool = False,
    all_images: bool = False,
    home: ContainersHome | None = None,
    extra: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`skopeo copy SRC DST` (e.g. `oci:DIR:TAG` to `docker://HOST/REPO:TAG` or back).

    `creds` ("user", "password") go to whichever side is `docker://`; `all_images` copies
    every manifest of an index (`--all`).
    """
    verify = str(tls_verify).lower()
    args = ["copy", f"--src-tls-verify={verify}", f"--dest-tls-verify={verify}"]
    args += _authfile_args(authfile)
    if creds is not None:
        joined = f"{creds[0]}:{creds[1]}"
        if src.startswith("docker://"):
            args += ["--src-creds", joined]
        if dst.startswith("docker://"):
            args += ["--dest-creds", joined]
    if all_images:
        args.append("--all")
    args += [*extra, src, dst]
    return _skopeo(args, home, authfile, check=check)


def _docker_side(
    verb: str,
    ref: str,
    creds: Creds | None,
    authfile: Path | None,
    tls_verify: bool,
) -> list[str]:
    args = [verb, f"--tls-verify={str(tls_verify).lower()}", *_authfile_args(authfile)]
    if creds is not None:
        args += ["--creds", f"{creds[0]}:{creds[1]}"]
    return args


def skopeo_inspect(
    ref: str,
    *,
    creds: Creds | None = None,
    authfile: Path | None = None,
    tls_verify: bool = False,
    raw: bool = False,
    config: bool = False,
    home: ContainersHome | None = None,
    extra: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`skopeo inspect REF` (`--raw`: the manifest bytes as stored; `--config`: the config)."""
    args = _docker_side("inspect", ref, creds, authfile, tls_verify)
    if raw:
        args.append("--raw")
    if config:
        args.append("--config")
    return _skopeo([*args, *extra, ref], home, authfile, check=check)


def skopeo_list_tags(
    ref: str,
    *,
    creds: Creds | None = None,
    authfile: Path | None = None,
    tls_verify: bool = False,
    home: ContainersHome | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`skopeo list-tags docker://HOST/REPO`; stdout is JSON with a "Tags" list."""
    args = _docker_side("list-tags", ref, creds, authfile, tls_verify)
    return _skopeo([*args, ref], home, authfile, check=check)


def skopeo_delete(
    ref: str,
    *,
    creds: Creds | None = None,
    authfile: Path | None = None,
    tls_verify: bool = False,
    home: ContainersHome | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`skopeo delete docker://HOST/REPO:TAG` (deletes the manifest the tag points at)."""
    args = _docker_side("delete", ref, creds, authfile, tls_verify)
    return _skopeo([*args, ref], home, authfile, check=check)


class Podman:
    """podman 4.3 with private storage (vfs), run root, tmpdir and configuration.

    Use as a context manager (or call `close()`): the run root lives outside `workdir`.
    Works here: login, logout, pull, push, tag, rmi, images, inspect. Not: `podman run`
    (setrlimit is not permitted in this sandbox). Registry access is plain HTTP
    (`--tls-verify=false`).
    """

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.home = ContainersHome(workdir / "config")
        self.authfile = self.home.authfile
        # podman refuses a --runroot longer than 50 characters, so it cannot live in tmp_path.
        self.runroot = Path(tempfile.mkdtemp(prefix="podman-run-"))
        self.global_args = [
            "--root",
            str(workdir / "root"),
            "--runroot",
            str(self.runroot),
            "--tmpdir",
            str(workdir / "tmp"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ]

    def close(self) -> None:
        """Remove the run root (the storage under `workdir` stays for inspection)."""
        shutil.rmtree(self.runroot, ignore_errors=True)

    def __enter__(self) -> Podman:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [which("podman") or "/usr/bin/podman", *self.global_args, *args]
        return run_client(argv, env=self.home.env(), input=input, check=check)

    def login(
        self, host: str, user: str, password: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "login",
            "--tls-verify=false",
            "--authfile",
            str(self.authfile),
            "--username",
            user,
            "--password-stdin",
            host,
            input=password,
            check=check,
        )

    def logout(self, host: str) -> subprocess.CompletedProcess[str]:
        return self.run("logout", "--authfile", str(self.authfile), host)

    def pull(self, ref: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Pull REF (`HOST/REPO:TAG`, or a transport form like `oci:DIR:TAG`); stdout ends
        with the image ID."""
        return self.run(
            "pull", "--tls-verify=false", "--authfile", str(self.authfile), ref, check=check
        )

    def load_oci_layout(self, layout: Path, tag: str, name: str) -> str:
        """Pull `oci:LAYOUT:TAG` into storage, tag it `name`, return the image ID.

        (podman names an image pulled from a layout after the layout's path, not the tag.)
        """
        image_id = self.pull(f"oci:{layout}:{tag}").stdout.split()[-1]
        self.tag(image_id, name)
        return image_id

    def push(
        self,
        ref: str,
        destination: str | None = None,
        *,
        digestfile: Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Push local image REF (to `destination` if given). podman stores layers
        uncompressed and recompresses on push, so layer and manifest digests differ from an
        OCI layout's; `digestfile` receives the pushed manifest digest."""
        args = ["push", "--tls-verify=false", "--authfile", str(self.authfile)]
        if digestfile is not None:
            args += ["--digestfile", str(digestfile)]
        args.append(ref)
        if destination is not None:
            args.append(destination)
        return self.run(*args, check=check)

    def tag(self, source: str, target: str) -> subprocess.CompletedProcess[str]:
        return self.run("tag", source, target)

    def rmi(self, *refs: str, force: bool = False) -> subprocess.CompletedProcess[str]:
        return self.run("rmi", *(["--force"] if force else []), *refs)

    def image_ids(self) -> list[str]:
        """Full IDs (hex, as `pull` prints them) of the images in this podman's storage."""
        listed = self.run("images", "--no-trunc", "--quiet").stdout.split()
        return [image_id.removeprefix("sha256:") for image_id in listed]


def _oras_client(target: str, user: str | None, password: str | None) -> Any:
    import oras.client  # type: ignore[import-untyped]  # oras-py ships no type hints

    client = oras.client.OrasClient(hostname=target.split("/", 1)[0], insecure=True)
    # Ignore ~/.docker/config.json: oras-py reads it on every push/pull unless a config is
    # already loaded, and an entry there would override the credentials given here.
    client.auth._auth_config = {"auths": {}, "credsStore": None, "credHelpers": {}}
    if user is not None and password is not None:
        client.auth.set_basic_auth(user, password)
    return client


def oras_push(
    target: str,
    files: Sequence[Path],
    user: str | None = None,
    password: str | None = None,
    *,
    annotations: Mapping[str, str] | None = None,
) -> int:
    """Push `files` as an ORAS artifact to `HOST/REPO:TAG` over plain HTTP.

    Returns the HTTP status of the manifest PUT (201). Each file becomes a layer titled
    with its base name. oras-py caches one bearer token per client and refreshes it only on
    403, so each call here uses a new client.
    """
    client = _oras_client(target, user, password)
    response = client.push(
        target=target,
        files=[str(path) for path in files],
        disable_path_validation=True,
        manifest_annotations=dict(annotations) if annotations else None,
        quiet=True,
    )
    status: int = response.status_code
    return status


def oras_pull(
    target: str, outdir: Path, user: str | None = None, password: str | None = None
) -> list[Path]:
    """Pull an ORAS artifact into `outdir`; returns the files written."""
    client = _oras_client(target, user, password)
    outdir.mkdir(parents=True, exist_ok=True)
    files: list[str] = client.pull(target=target, outdir=str(outdir))
    return [Path(path) for path in files]

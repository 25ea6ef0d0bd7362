"""Running client commands: capture output, fail with a readable error, never print secrets."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

Creds = tuple[str, str]
"""A (user, password) pair."""
_SECRET_FLAGS = {"--creds", "--src-creds", "--dest-creds", "--password", "-p", "--user", "-u"}
_COMMAND_TIMEOUT = 300.0


class ClientError(RuntimeError):
    """A client CLI exited non-zero."""

    def __init__(self, argv: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        self.argv = _masked(argv)
        self.result = result
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        super().__init__(
            f"{self.argv[0]} failed with status {result.returncode}: {' '.join(self.argv)}\n"
            f"stderr:\n{result.stderr.strip()}\nstdout:\n{result.stdout.strip()[-2000:]}"
        )


def _masked(argv: Sequence[str]) -> list[str]:
    masked: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            user, sep, _ = arg.partition(":")
            masked.append(f"{user}:***" if sep else "***")
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in _SECRET_FLAGS:
            if eq:
                masked.append(f"{flag}=***")
            else:
                masked.append(arg)
                hide_next = True
        else:
            masked.append(arg)
    return masked


def run_client(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float = _COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a client command, capture text output, raise ClientError on failure if `check`."""
    result = subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise ClientError(argv, result)
    return result

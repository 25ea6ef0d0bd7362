"""The login lockout.

Online guessing is capped by :class:`Lockout`: an attempt is reserved, atomically, before the
slow hash, counting the attempts in flight with the failures, so no parallelism gets more than
``max_failures`` guesses at an account (or ``max_failures_per_address`` from one client
address, across accounts) into a window; then every login of the account (or from the
address) is refused with :class:`~harborlite.errors.LockedOut`, the right password too, until
the window ends. A success forgives the failures its own address made on the account (a person
mistyping, then getting it right), never those made from elsewhere. With Redis the counts are
shared by every replica (a hash per account and per address, changed by Lua scripts, with the
window as their expiry); without it they live in bounded dicts here.

While a configured Redis fails, the lockout **fails closed**, never open: it counts the
failures of the window from the audit log (:mod:`harborlite.accounts.failed_logins`), which
every replica writes before it refuses, plus the attempts in flight here, so the replicas
still share one count (each may let its own in-flight attempts through: at most ``max_failures``
per replica at once). A login that cannot be counted at all (the database away too) is
refused as locked out for a few seconds. Redis is tried again every ``retry_seconds``; its
counts take over again as soon as it answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.accounts.failed_logins import Counted, failures_in_window, seconds_until
from harborlite.accounts.names import shown_username
from harborlite.errors import LockedOut

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from harborlite.settings import Settings

log = logging.getLogger("harborlite.accounts")


@dataclass(frozen=True)
class Locked:
    """A lockout a failure started: of the account, or of the client's address."""

    address: str | None  # None: the account
    failures: int
    seconds: int

    @property
    def detail(self) -> str:
        what = "locked out" if self.address is None else f"address {self.address} locked out"
        return f"{what} for {self.seconds} s after {self.failures} failures"


def address_key(address: str) -> str:
    """What one client address counts as: itself, or its /64 for IPv6 (one host's share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# Each subject (KEYS[1] the account, KEYS[2] the address) is a hash: n = failures + attempts
# in flight, f = failures, expiring with the window; KEYS[3] counts the failures of this
# address on this account (what a success forgives). ARGV[1], ARGV[2]: the subjects' limits,
# ARGV[3]: the window in ms. (``0 - k``, never ``-k``: Lua's -0 reaches Redis as "-0".)
_LIBRARY = """
local function full(key, limit)
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  if n < limit then return 0 end
  local ttl = redis.call('PTTL', key)
  if ttl < 1 then ttl = 1 end
  return ttl
end
local function release(reserved, pardon)
  local k = 0
  if pardon then
    k = tonumber(redis.call('GET', KEYS[3]) or '0')
    if k > 0 then redis.call('DEL', KEYS[3]) end
  end
  if k + reserved == 0 then return end
  for i = 1, 2 do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      local f = redis.call('HINCRBY', KEYS[i], 'f', 0 - k)
      local n = redis.call('HINCRBY', KEYS[i], 'n', 0 - (k + reserved))
      if f < 0 then f = 0; redis.call('HSET', KEYS[i], 'f', 0) end
      if n < f then n = f; redis.call('HSET', KEYS[i], 'n', f) end
      if n <= 0 then redis.call('DEL', KEYS[i]) end
    end
  end
end
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2])}
"""
# ARGV[4] '1': forgive (a verified password), when neither subject is locked
_CHECK = (
    _LIBRARY
    + """
for i = 1, 2 do
  local ttl = full(KEYS[i], limits[i])
  if ttl > 0 then return {i, ttl} end
end
if ARGV[4] == '1' then release(0, true) end
return {0, 0}
"""
)
_RESERVE = (
    _LIBRARY
    + """
for i = 1, 2 do
  local ttl = full(KEYS[i], limits[i])
  if ttl > 0 then return {i, ttl} end
end
for i = 1, 2 do
  redis.call('HINCRBY', KEYS[i], 'n', 1)
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
return {0, 0}
"""
)
# returns, per subject, the failures that locked it now (0: not locked by this one)
_FAIL = (
    _LIBRARY
    + """
local locked = {0, 0}
for i = 1, 2 do
  local f = redis.call('HINCRBY', KEYS[i], 'f', 1)
  local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
  if n < f then redis.call('HSET', KEYS[i], 'n', f) end
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
  if f == limits[i] then
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
    locked[i] = f
  end
end
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return locked
"""
)
# ARGV[4] '1': forgive (a success), '0': an attempt that got no answer
_RELEASE = _LIBRARY + "release(1, ARGV[4] == '1')\nreturn 0\n"

REDIS_PREFIX = "harborlite:login:"
UNCOUNTED_RETRY_MS = 5000  # a login that cannot be counted at all: refused, retry after this


@dataclass
class _Tally:
    attempts: int  # failures + attempts in flight
    failures: int
    until: float


class Lockout:
    """The failed-login counts of accounts and client addresses (``services.failures``).

    ``redis``: a client shared by the replicas, or None for counts in this process only.
    ``sessions``: the database, to count from the audit log while Redis fails (without it, a
    failing Redis leaves the counts of this process only, and a log line says so)."""

    def __init__(
        self,
        max_failures: int = 5,
        lockout_seconds: int = 300,
        max_failures_per_address: int = 20,
        *,
        redis: Redis | None = None,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        max_entries: int = 100_000,
        command_timeout: float = 1.0,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.lockout_seconds = lockout_seconds
        self.max_entries = max_entries
        self.flights: dict[bytes, asyncio.Future[bool | None]] = {}  # see login()
        self._clock = clock
        self._timeout = command_timeout
        self._tallies: dict[str, _Tally] = {}
        self._pairs: dict[str, _Tally] = {}  # only .failures and .until are used
        self._scripts: dict[str, AsyncScript] = {}
        self._redis_failed_at = -1e9
        self._sessions = sessions
        self._retry = retry_seconds
        self._redis_down_until = -1e9  # while Redis failed moments ago, it is not asked
        # until a window has passed since Redis last failed, the failures counted while it was
        # down (in the audit log, not in Redis) still count: Redis's "not locked" is checked
        # against the audit log
        self._recovering_until = -1e9
        if redis is not None:
            for name, source in (
                ("check", _CHECK),
                ("reserve", _RESERVE),
                ("fail", _FAIL),
                ("release", _RELEASE),
            ):
                self._scripts[name] = redis.register_script(source)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: Redis | None = None,
        sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> Lockout:
        return cls(
            settings.login_max_failures,
            settings.login_lockout_seconds,
            settings.login_max_failures_per_address,
            redis=redis,
            sessions=sessions,
        )

    @property
    def shared(self) -> bool:
        """Whether the counts are the replicas' (Redis answering), not this process's."""
        return bool(self._scripts) and self._clock() >= self._redis_down_until

    # ------------------------------------------------------------------ the operations

    async def locked(self, username: str, address: str) -> int | None:
        """The seconds left of a lockout of the account or the address, or None."""
        return _seconds(await self._run("check", username, address, "0"))

    async def admitted(self, username: str, address: str) -> int | None:
        """For a password already verified (the credential cache): the seconds left of a
        lockout (refused, the right password too), or None, forgiving the failures this
        address made on the account. The token service's cached path calls this."""
        return _seconds(await self._run("check", username, address, "1"))

    async def reserve(self, username: str, address: str) -> None:
        """Count an attempt about to be checked, or raise LockedOut when none may be."""
        retry = _seconds(await self._run("reserve", username, address, ""))
        if retry is not None:
            raise LockedOut(retry)

    async def failed(self, username: str, address: str) -> list[Locked]:
        """The reserved attempt failed; the lockouts it starts (for the audit log)."""
        answer = await self._run("fail", username, address, "")
        locks = []
        if answer[0]:
            locks.append(Locked(None, answer[0], self.lockout_seconds))
        if answer[1]:
            locks.append(Locked(address, answer[1], self.lockout_seconds))
        for lock in locks:
            log.warning("login %s (%s)", lock.detail, shown_username(username))
        return locks

    async def succeeded(self, username: str, address: str) -> None:
        """The reserved attempt succeeded: forgive this address's failures on the account."""
        await self._run("release", username, address, "1")

    async def abandoned(self, username: str, address: str) -> None:
        """The reserved attempt got no answer (an error): it does not count."""
        await self._run("release", username, address, "0")

    # ------------------------------------------------------------------ Redis or here

    def _keys(self, username: str, address: str) -> list[str]:
        account = hashlib.sha256(username.encode()).hexdigest()[:32]  # no password kept
        where = address_key(address)
        return [f"u:{account}", f"a:{where}", f"p:{account}:{where}"]

    async def _run(self, name: str, username: str, address: str, flag: str) -> list[int]:
        keys = self._keys(username, address)
        script = self._scripts.get(name)
        if script is None:
            return self._local(name, keys, flag)
        if self._clock() >= self._redis_down_until:
            args = [self.max_failures, self.max_failures_per_address, self.lockout_seconds * 1000]
            try:
                async with asyncio.timeout(self._timeout):
                    answer = await script(
                        keys=[REDIS_PREFIX + key for key in keys], args=[*args, flag]
                    )
                result = [int(value) for value in answer] if isinstance(answer, list) else [0]
            except (RedisError, OSError, TimeoutError) as error:
                now = self._clock()
                self._redis_down_until = now + self._retry
                self._recovering_until = now + self._retry + self.lockout_seconds
                if now - self._redis_failed_at > 60:
                    where = (
                        "in this process only" if self._sessions is None else "from the audit log"
                    )
                    log.warning("login lockout counted %s: Redis: %s", where, error)
                    self._redis_failed_at = now
            else:
                return await self._recovered(name, result, keys, username, address)
        if self._sessions is None or name not in ("check", "reserve"):
            return self._local(name, keys, flag)
        return await self._from_audit(name, keys, flag, username, address)

    async def _recovered(
        self, name: str, answer: list[int], keys: list[str], username: str, address: str
    ) -> list[int]:
        """Redis's answer, unless Redis failed within the window and the audit log (which
        holds the failures counted while it was down too) says the login is locked."""
        if (
            name not in ("check", "reserve")
            or answer[0] != 0
            or self._sessions is None
            or self._clock() >= self._recovering_until
        ):
            return answer
        counted = await self._audit_counts(username, address)
        limits = (self.max_failures, self.max_failures_per_address)
        for i in (0, 1):
            if counted is not None and counted[i].failures >= limits[i]:
                if name == "reserve":  # Redis counted an attempt that will not be made
                    await self._run("release", username, address, "0")
                return [i + 1, max(1000, int(seconds_until(counted[i].until) * 1000))]
        if counted is None:  # fail closed, as below
            if name == "reserve":
                await self._run("release", username, address, "0")
            return [1, UNCOUNTED_RETRY_MS]
        return answer

    async def _audit_counts(self, username: str, address: str) -> tuple[Counted, Counted] | None:
        """The window's failures of the account and the address in the audit log, or None
        when the database cannot say (logged)."""
        assert self._sessions is not None
        limits = (self.max_failures, self.max_failures_per_address)
        try:
            async with self._sessions() as session:
                return await failures_in_window(
                    session, username, address, limits, timedelta(seconds=self.lockout_seconds)
                )
        except Exception as error:  # fail closed: a login that cannot be counted is refused
            log.error(
                "login refused: its attempt cannot be counted (Redis and the database: %s)",
                type(error).__name__,
            )
            return None

    async def _from_audit(
        self, name: str, keys: list[str], flag: str, username: str, address: str
    ) -> list[int]:
        """``check`` or ``reserve`` while Redis fails: the window's failures from the audit
        log (every replica's), with this process's own failures not yet committed and its
        attempts in flight; then this process's count as usual (the reservation)."""
        limits = (self.max_failures, self.max_failures_per_address)
        counted = await self._audit_counts(username, address)
        if counted is None:
            return [1, UNCOUNTED_RETRY_MS]
        for i in (0, 1):
            tally = self._get(self._tallies, keys[i])
            mine = tally.failures if tally is not None else 0
            flying = tally.attempts - tally.failures if tally is not None else 0
            if max(counted[i].failures, mine) + flying >= limits[i]:
                left = seconds_until(counted[i].until)
                if tally is not None:
                    left = max(left, tally.until - self._clock())
                return [i + 1, max(1, int(left * 1000))]
        return self._local(name, keys, flag)

    def _local(self, name: str, keys: list[str], flag: str) -> list[int]:
        """The scripts' twins over this process's dicts (no await: atomic here)."""
        limits = (self.max_failures, self.max_failures_per_address)
        if name in ("check", "reserve"):
            for i in (0, 1):
                tally = self._get(self._tallies, keys[i])
                if tally is not None and tally.attempts >= limits[i]:
                    return [i + 1, max(1, int((tally.until - self._clock()) * 1000))]
            if name == "reserve":
                for key in keys[:2]:
                    self._get_or_new(self._tallies, key).attempts += 1
            elif flag == "1":
                self._release(keys, 0, pardon=True)
            return [0, 0]
        if name == "fail":
            locked = [0, 0]
            for i in (0, 1):
                tally = self._get_or_new(self._tallies, keys[i])
                tally.failures += 1
                tally.attempts = max(tally.attempts, tally.failures)
                if tally.failures == limits[i]:
                    tally.until = self._clock() + self.lockout_seconds
                    locked[i] = tally.failures
            pair = self._get_or_new(self._pairs, keys[2])
            pair.failures += 1
            pair.until = self._clock() + self.lockout_seconds
            return locked
        self._release(keys, 1, pardon=flag == "1")
        return [0]

    def _release(self, keys: list[str], reserved: int, *, pardon: bool) -> None:
        forgiven = 0
        if pardon:
            pair = self._get(self._pairs, keys[2])
            if pair is not None:
                forgiven = pair.failures
                del self._pairs[keys[2]]
        if forgiven + reserved == 0:
            return
        for key in keys[:2]:
            tally = self._get(self._tallies, key)
            if tally is None:
                continue
            tally.failures = max(0, tally.failures - forgiven)
            tally.attempts = max(tally.failures, tally.attempts - forgiven - reserved)
            if tally.attempts <= 0:
                del self._tallies[key]

    def _get(self, table: dict[str, _Tally], key: str) -> _Tally | None:
        tally = table.get(key)
        if tally is not None and tally.until <= self._clock():
            del table[key]
            return None
        return tally

    def _get_or_new(self, table: dict[str, _Tally], key: str) -> _Tally:
        tally = self._get(table, key)
        if tally is None:
            now = self._clock()
            if len(table) >= self.max_entries:
                _make_room(table, now, self.max_entries)
            tally = table[key] = _Tally(0, 0, now + self.lockout_seconds)
        return tally


def _make_room(table: dict[str, _Tally], now: float, limit: int) -> None:
    """Drop what expired and, if that is not enough, the lighter half: a flood of new names
    or addresses cannot push out one under attack, whose failures are the most."""
    for key in [key for key, tally in table.items() if tally.until <= now]:
        del table[key]
    if len(table) >= limit:
        lightest = sorted(table, key=lambda key: (table[key].failures, table[key].until))
        for key in lightest[: len(lightest) // 2]:
            del table[key]


def _seconds(answer: list[int]) -> int | None:
    """A script's {which, ms} as whole seconds left (rounded up), or None when not locked."""
    if not answer or answer[0] == 0:
        return None
    return max(1, -(-answer[1] // 1000))

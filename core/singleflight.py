"""Single-flight with "dirty, read again": one reader per lane at a time, across every process.

For provider callbacks that only say "this object changed, read it" (Poster's webhooks): two reads
of one object in flight at once may answer out of order, and storing the later answer first and
the earlier one last leaves an old value in the database. A lane (Redis) holds:

- a lock with a token (one holder; a TTL so a dead holder does not block the lane for ever);
- ``pending``: member → a generation that every ``mark`` increments, and member → the last note
  (e.g. the webhook's action);
- ``queued``: a flag saying a reader is on its way or reading (``mark_queued`` sets it and says
  whether it was set already; the holder clears it when it lets go, atomically with the check that
  nothing is pending), so a burst queues one task, not one each, and a change after the holder let
  go queues a new one.

``mark`` records the change and (``take=True``) tries the lock in one round trip; a change can also
be marked where it is noticed (a webhook's web request) and the lock tried later by whoever is to
read (``acquire``, in the task): then a burst's marks all land before the first read starts, and the
tasks after it find nothing left to read. The caller that gets the lock is the holder: it takes a
``snapshot``, reads and stores, then calls ``done(snapshot)``, which forgets only the members whose
generation did not move meanwhile and releases the lock only when nothing is left; otherwise the
holder loops and reads again. A caller that does not get the lock leaves at once: the holder's next
read starts after its change, so its answer covers it. A burst of changes to one lane costs at most
the read in flight plus one more, and reads of a lane never overlap.

A holder that dies leaves its pending members behind (they expire after ``pending_ttl``): the next
``mark`` of the lane, or a retry of the dead holder's own work, picks them up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

from redis.commands.core import Script

from .redis_client import shared_redis

NAMESPACE = "merchant-ops:flight"

# 1: the caller holds the lock now (take); 2: the caller must send a reader (queue).
_MARK = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if ARGV[6] == '1' and redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then return 1 end
if ARGV[7] == '1' and redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[8]) then return 2 end
return 0
"""


# Returns {gen hash, note hash} flattened, and refreshes the holder's lock; nothing when the lock
# is no longer this holder's.
_SNAPSHOT = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""

# ARGV: token, then member, generation pairs. 1: released (nothing left); 0: more to read; -1: the
# lock is not this holder's any more.
_DONE = """
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2]) end
return 0
"""


@lru_cache(maxsize=16)
def _script(url: str, source: str) -> Script:
    return shared_redis(url).register_script(source)


@dataclass(frozen=True)
class Snapshot:
    generations: dict[str, str]  # member → generation seen
    notes: dict[str, str]  # member → the last note marked

    def __bool__(self) -> bool:
        return bool(self.generations)


class SingleFlight:
    """One lane, e.g. ``poster:<account>:ingredients``. ``lock_ms`` must outlast one read and store."""

    def __init__(
        self,
        key: str,
        *,
        lock_ms: int = 120_000,
        pending_ttl: int = 86_400,
        queued_ms: int = 60_000,
        redis_url: str | None = None,
    ) -> None:
        self.key = f"{NAMESPACE}:{key}"
        self.keys = [f"{self.key}:gen", f"{self.key}:note", f"{self.key}:lock", f"{self.key}:queued"]
        self.queued_ms = queued_ms  # a reader lost on its way: the next mark after this sends another
        self.lock_ms = lock_ms
        self.pending_ttl = pending_ttl
        self.redis_url = redis_url
        self.token = ""

    def _run(self, source: str, keys: list[str], args: list[str | int]) -> object:
        from django.conf import settings

        url = self.redis_url or settings.REDIS_URL
        return _script(url, source)(keys=keys, args=args, client=shared_redis(url))

    def mark(self, member: str, note: str = "", *, take: bool = True) -> bool:
        """Record a change of ``member``; True when this caller (``take``) became the holder."""
        return self._mark(member, note, take=take, queue=False) == 1

    def mark_queued(self, member: str, note: str = "") -> bool:
        """Record a change of ``member``; True when no reader is on its way: the caller sends one
        (which then calls ``acquire``). False: the reader already queued will read this too."""
        return self._mark(member, note, take=False, queue=True) == 2

    def _mark(self, member: str, note: str, *, take: bool, queue: bool) -> int:
        token = secrets.token_hex(12)
        args: list[str | int] = [member, note, token, self.lock_ms, self.pending_ttl]
        args += ["1" if take else "0", "1" if queue else "0", self.queued_ms]
        got = int(self._run(_MARK, self.keys, args))  # type: ignore[call-overload]
        if got == 1:
            self.token = token
        return got

    def acquire(self) -> bool:
        """Try to become the holder (the changes were marked before); False while another holds it.
        ``queued`` stays set while the holder reads: a change marked before it lets go is read by
        its loop (``done`` sees the generation move); it is cleared when the holder lets go."""
        from django.conf import settings

        token = secrets.token_hex(12)
        got = shared_redis(self.redis_url or settings.REDIS_URL).set(self.keys[2], token, nx=True, px=self.lock_ms)
        if got:
            self.token = token
        return bool(got)

    def snapshot(self) -> Snapshot | None:
        """What is pending now (the holder only); None when the lock was lost (it expired)."""
        raw = self._run(_SNAPSHOT, self.keys, [self.token, self.lock_ms])
        if not raw:
            return None
        gens: list[bytes] = raw[0]  # type: ignore[index]
        notes: list[bytes] = raw[1]  # type: ignore[index]

        def pairs(flat: list[bytes]) -> dict[str, str]:
            return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

        return Snapshot(generations=pairs(gens), notes=pairs(notes))

    def done(self, snapshot: Snapshot) -> int:
        """After the snapshot's members were read and stored: 1 released, 0 read again, -1 lost."""
        args: list[str | int] = [self.token]
        for member, generation in snapshot.generations.items():
            args += [member, generation]
        result = int(self._run(_DONE, self.keys, args))  # type: ignore[call-overload]
        if result != 0:
            self.token = ""
        return result

    def release(self) -> None:
        """Give the lane up without forgetting anything (a failed read): the next mark takes it."""
        if self.token:
            self._run(_RELEASE, [self.keys[2], self.keys[3]], [self.token])
            self.token = ""

    def reset(self) -> None:
        from django.conf import settings

        shared_redis(self.redis_url or settings.REDIS_URL).delete(*self.keys)

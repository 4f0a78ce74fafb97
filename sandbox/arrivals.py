"""When a request arrived, in the kernel's word rather than this process's (the server stamps it, the harness uses it).

A provider counts requests at its edge, and a simulator written in Python shares the CPU with the
code it measures. A stalled simulator thread that reads a backlog late would otherwise count it as
one burst — the rate checks would blame the client for the simulator's own stall. So every
connection has ``SO_TIMESTAMPNS`` on, and each request carries the kernel's receive time of its
first byte (``Request.arrived``, wall clock; ``arrived_monotonic()`` on the monotonic clock). Rate
limits, bans and statistics use it. A request relayed by the sandbox's own forward proxy
(``sandbox/proxy.py``, a thread of the test process that a busy CPU stalls too) carries the proxy's
kernel time in ``PROXY_ARRIVED_HEADER``; an earlier time there is the moment the client sent it,
which is what a real proxy (that does not stall for a Python process) would have passed on at once.
"""

from __future__ import annotations

import socket
import struct
import time

# Linux's values (asm-generic/socket.h); Python's socket module does not name them.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")
PROXY_ARRIVED_HEADER = "X-Sandbox-Proxy-Arrived"
_PROXY_TRUST_SECONDS = 30.0  # a relayed time further back than this is not a stall: ignored


def stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each packet's receive time on ``sock`` (a listener passes it on)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:  # not Linux: arrivals fall back to the handler's clock
        return False
    return True


def kernel_arrival(connection: socket.socket) -> float | None:
    """Wait for the next request's first byte without taking it (MSG_PEEK) and return the kernel's
    receive time of it (wall clock), or None where there is none. The buffered reader holds nothing
    between two requests: no client of ours pipelines (requests/urllib3, http.client and browsers send
    the next request after the answer)."""
    try:
        data, ancillary, _flags, _addr = connection.recvmsg(1, socket.CMSG_SPACE(_TIMESPEC.size), socket.MSG_PEEK)
    except OSError:  # the idle timeout or a reset: the reader sees it too
        return None
    if not data:
        return None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
            return float(seconds + nanoseconds / 1e9)
    return None


def relayed_arrival(arrived: float | None, headers: dict[str, str]) -> float | None:
    """The sandbox proxy's kernel time of a relayed request, where it is the earlier one."""
    try:
        relayed = float(headers.get(PROXY_ARRIVED_HEADER, ""))
    except ValueError:
        return arrived
    own = arrived if arrived is not None else time.time()
    return relayed if own - _PROXY_TRUST_SECONDS <= relayed <= own else arrived

"""Emulator settings (faults), request statistics and service-protection limits.

Reference (ref = dataverse-protocol.md) 6 (service protection: 429 + Retry-After, codes
0x80072322 / 0x80072326, budget headers) and 6.3 (transient 502/503/504).  The control
surface itself (``/_emulator/...``) is served by dvemu.py using these objects.
"""

import collections
import math
import random
import socket
import threading
import time
import weakref

KINDS = ("token", "metadata", "list", "get", "create", "update", "upsert", "delete", "batch", "other")
# by_op: a finer partition for exact request counts.  list pages are list_first (a query's first
# page) + list_next (a page fetched with a nextLink's $skiptoken); delta pages (GET of a deltaLink)
# likewise; count = /$count; write = create + update + upsert + delete (incl. CreateMultiple).
OPS = ("token", "metadata", "list_first", "list_next", "delta_first", "delta_next", "count", "get", "write",
       "batch", "other")
_OP_OF_KIND = {"token": "token", "metadata": "metadata", "list": "list_first", "get": "get", "create": "write",
               "update": "write", "upsert": "write", "delete": "write", "batch": "batch", "other": "other"}

FAULT_KEYS = {
    # key: (type, description)
    "throttle": float,        # probability of a 429 0x80072322 with Retry-After = retry_after
    "retry_after": int,       # seconds for the throttle fault
    "server_error": float,    # probability of a 503/502/504 (rotating) gateway error
    "drop": float,            # probability of closing the connection without a response
    "latency_ms": float,      # sleep before handling each request
    "record_cost_us": float,  # extra sleep per record returned (lists: n*cost, single GET: 1*cost)
    "column_cost_us": float,  # extra sleep per record and rendered column (see README "Cost model")
    "dop_hint": int,          # x-ms-dop-hint on Web API answers (ref 6.2, 13); 0 = no header
    "token_lifetime": int,    # expires_in of new access tokens
    "seed": int,              # seed of the fault PRNG
    "budget_requests": int,   # requests per principal per window (ref 6.1: 6000)
    "budget_window": float,   # sliding window in seconds (ref 6.1: 300)
    "max_concurrent": int,    # concurrent requests per principal (ref 6.1: 52)
    "budget_exec_ms": float,  # combined execution time per principal per window (ref 6.1: 1,200,000 ms)
    "capacity": int,          # requests of one org whose row cost is worked on at once (0: unlimited)
    "refresh_grace": float,   # seconds a rotated refresh token stays usable after first use
    "device_interval": int,   # "interval" returned by the device code endpoint (real: 5)
    "device_expires_in": int,  # lifetime of a device code in seconds (real: 900)
    "device_slow_down": int,  # answer this many coming device-code polls with slow_down (RFC 8628 3.5)
    "refresh_token_max_inactive": float,  # seconds until an unused refresh token expires (700082; real: 90 days)
    "auth_code_lifetime": float,  # seconds an authorization code stays redeemable (real: 10 minutes)
    "assertion_replay": int,  # 1: reject a client assertion whose jti was already used (real Entra accepts reuse)
}


class Settings:
    """Current fault/limit settings; ``base`` holds the command-line defaults."""

    def __init__(self, **base):
        self.lock = threading.Lock()
        self.base = {"throttle": 0.0, "retry_after": 1, "server_error": 0.0, "drop": 0.0,
                     "latency_ms": 0.0, "record_cost_us": 0.0, "column_cost_us": 0.0, "dop_hint": 4,
                     "token_lifetime": 3599, "seed": 1,
                     "budget_requests": 6000, "budget_window": 300.0, "max_concurrent": 52,
                     "budget_exec_ms": 1200000.0, "capacity": 0,
                     "refresh_grace": 30.0, "device_interval": 5, "device_expires_in": 900,
                     "device_slow_down": 0,
                     "refresh_token_max_inactive": 90 * 86400.0, "auth_code_lifetime": 600.0,
                     "assertion_replay": 0}
        self.base.update(base)
        self.values = dict(self.base)
        self.rng = random.Random(self.values["seed"])
        self.error_rotation = 0
        self.listeners = []

    def get(self, key):
        return self.values[key]

    def snapshot(self):
        with self.lock:
            return dict(self.values)

    def take(self, key):
        """Use up one of a counting fault (e.g. device_slow_down): True if there was one."""
        with self.lock:
            if self.values[key] > 0:
                self.values[key] -= 1
                return True
            return False

    def merge(self, changes):
        """Merge a JSON object; ``{"reset": true}`` first restores the defaults.  Reseeds the PRNG
        so a given configuration always produces the same fault sequence."""
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        unknown = [k for k in changes if k not in FAULT_KEYS and k != "reset"]
        if unknown:
            raise ValueError("unknown fault keys: %s" % ", ".join(sorted(unknown)))
        parsed = {}
        for k, v in changes.items():
            if k == "reset":
                continue
            typ = FAULT_KEYS[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError("%s must be a number" % k)
            if typ is float and k in ("throttle", "server_error", "drop") and not 0 <= v <= 1:
                raise ValueError("%s must be a probability between 0 and 1" % k)
            if v < 0:
                raise ValueError("%s must not be negative" % k)
            parsed[k] = typ(v)
        with self.lock:
            if changes.get("reset"):
                self.values = dict(self.base)
            self.values.update(parsed)
            self.rng = random.Random(self.values["seed"])
            self.error_rotation = 0
        for fn in self.listeners:
            fn()
        return self.snapshot()

    def draw_fault(self):
        """Per-request fault decision: None, "drop", "server_error" or "throttle"."""
        with self.lock:
            for key in ("drop", "server_error", "throttle"):
                p = self.values[key]
                if p > 0 and self.rng.random() < p:
                    if key == "server_error":
                        status = (503, 502, 504)[self.error_rotation % 3]
                        self.error_rotation += 1
                        return key, status
                    return key, None
        return None, None


class Stats:
    """Request counters for ``GET /_emulator/stats`` (see README "Control surface")."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.total = 0
            self.by_kind = {k: 0 for k in KINDS}
            self.by_op = {k: 0 for k in OPS}
            self.by_status = collections.Counter()
            self.by_org = {}
            self.records = 0
            self.bytes = 0
            self.server_s = 0.0
            self.inflight = getattr(self, "inflight", 0)
            self.peak_inflight = self.inflight
            self.reset_at = time.monotonic()
            self.cpu_at_reset = time.process_time()

    def record(self, org, kind, status, op=None, records=0, nbytes=0, server_s=0.0):
        status = str(status)
        op = op or _OP_OF_KIND.get(kind, "other")
        with self.lock:
            self.total += 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            self.by_op[op] = self.by_op.get(op, 0) + 1
            self.by_status[status] += 1
            self.records += records
            self.bytes += nbytes
            self.server_s += server_s
            if org is not None:
                o = self.by_org.get(org)
                if o is None:
                    o = self.by_org[org] = {"by_kind": {k: 0 for k in KINDS}, "by_op": {k: 0 for k in OPS},
                                            "by_status": collections.Counter(), "records": 0, "bytes": 0}
                o["by_kind"][kind] = o["by_kind"].get(kind, 0) + 1
                o["by_op"][op] = o["by_op"].get(op, 0) + 1
                o["by_status"][status] += 1
                o["records"] += records
                o["bytes"] += nbytes

    def enter(self):
        """A Web API request was admitted (for ``peak_inflight``)."""
        with self.lock:
            self.inflight += 1
            if self.inflight > self.peak_inflight:
                self.peak_inflight = self.inflight

    def leave(self):
        with self.lock:
            self.inflight -= 1

    def snapshot(self):
        now = time.monotonic()
        cpu = time.process_time()
        with self.lock:
            return {"total": self.total, "by_kind": dict(self.by_kind), "by_op": dict(self.by_op),
                    "by_status": dict(self.by_status),
                    "by_org": {k: {"by_kind": dict(v["by_kind"]), "by_op": dict(v["by_op"]),
                                   "by_status": dict(v["by_status"]), "records": v["records"],
                                   "bytes": v["bytes"]}
                               for k, v in self.by_org.items()},
                    "records": self.records, "bytes": self.bytes, "server_s": round(self.server_s, 6),
                    "inflight": self.inflight, "peak_inflight": self.peak_inflight,
                    "cpu_s": round(cpu, 6), "cpu_s_since_reset": round(cpu - self.cpu_at_reset, 6),
                    "uptime_s": round(now - self.started, 3), "since_reset_s": round(now - self.reset_at, 3)}


class Limiter:
    """Per-principal service protection (ref 6.1): a sliding window of request timestamps, the
    combined execution time in the window, and concurrent requests."""

    def __init__(self, settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.windows = {}
        self.exec_time = {}      # principal -> deque of (end time, seconds)
        self.exec_sum = {}       # principal -> sum of the deque's seconds
        self.inflight = collections.Counter()
        settings.listeners.append(self.clear)

    def clear(self):
        with self.lock:
            self.windows.clear()
            self.exec_time.clear()
            self.exec_sum.clear()

    def _exec_spent(self, principal, now, window):
        """Seconds of execution time of ``principal`` in the window (caller holds the lock)."""
        t = self.exec_time.get(principal)
        if not t:
            return 0.0
        while t and now - t[0][0] >= window:
            self.exec_sum[principal] -= t.popleft()[1]
        if not t:
            self.exec_sum[principal] = 0.0
        return max(0.0, self.exec_sum[principal])

    def enter(self, principal):
        """Admit a request.  Returns None, or (retry_after, code, message) for a 429."""
        s = self.settings
        limit = int(s.get("budget_requests"))
        window = float(s.get("budget_window"))
        maxc = int(s.get("max_concurrent"))
        now = time.monotonic()
        with self.lock:
            if self.inflight[principal] >= maxc:
                return (1, "0x80072326", "Number of concurrent requests exceeded the limit of %d." % maxc)
            q = self.windows.setdefault(principal, collections.deque())
            while q and now - q[0] >= window:
                q.popleft()
            if len(q) >= limit:
                retry = max(1, math.ceil(window - (now - q[0])))
                return (retry, "0x80072322", "Number of requests exceeded the limit of %d over time window of "
                                             "%d seconds." % (limit, window))
            budget = float(s.get("budget_exec_ms"))
            if self._exec_spent(principal, now, window) * 1000.0 >= budget:
                t = self.exec_time[principal]
                retry = max(1, math.ceil(window - (now - t[0][0])))
                return (retry, "0x80072321", "Combined execution time of incoming requests exceeded limit of "
                                             "{:,} milliseconds over time window of {:d} seconds. Decrease number "
                                             "of concurrent requests or reduce the duration of requests and try "
                                             "again later.".format(int(budget), int(window)))
            q.append(now)
            self.inflight[principal] += 1
        return None

    def leave(self, principal, elapsed):
        with self.lock:
            self.inflight[principal] -= 1
            if self.inflight[principal] <= 0:
                del self.inflight[principal]
            t = self.exec_time.setdefault(principal, collections.deque())
            t.append((time.monotonic(), elapsed))
            self.exec_sum[principal] = self.exec_sum.get(principal, 0.0) + elapsed

    def headers(self, principal):
        """x-ms-ratelimit-* budget headers (ref 6.2)."""
        s = self.settings
        limit = int(s.get("budget_requests"))
        window = float(s.get("budget_window"))
        now = time.monotonic()
        with self.lock:
            q = self.windows.get(principal, ())
            used = sum(1 for t in q if now - t < window)
            spent = self._exec_spent(principal, now, window)
        remaining = max(0, limit - used)
        time_left = max(0.0, float(s.get("budget_exec_ms")) / 1000.0 - spent)
        return [("x-ms-ratelimit-burst-remaining-xrm-requests", str(remaining)),
                ("x-ms-ratelimit-time-remaining-xrm-requests", "{:,.2f}".format(time_left))]


class Capacity:
    """What one org can work on at once (``capacity``; 0 = unlimited): the row cost of a
    request (sleep_cost) is slept while holding one of ``capacity`` slots, in slices of
    SLICE seconds so concurrent requests share the slots in turn.  Beyond ``capacity``
    parallel requests an org then serves no more rows per second, as a real one that
    suggests x-ms-dop-hint does not scale without end.  Latency is not limited."""

    SLICE = 0.05

    def __init__(self, settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.slots = {}          # org -> (capacity, semaphore)

    def work(self, org, seconds):
        cap = int(self.settings.get("capacity") or 0)
        if cap <= 0:
            time.sleep(seconds)
            return
        with self.lock:
            cur = self.slots.get(org)
            if cur is None or cur[0] != cap:
                cur = self.slots[org] = (cap, threading.Semaphore(cap))
        sem = cur[1]
        while seconds > 0:
            step = min(seconds, self.SLICE)
            with sem:
                time.sleep(step)
            seconds -= step


# ------------------------------------------------------------------ TLS faults

TLS_MODES = ("good", "wrong_host", "expired", "unknown_ca", "stall")
# A TLS client that sends this server name (SNI) always gets the good certificate at once: the
# control surface stays reachable while the Web API and token endpoint serve a bad one.  dynfs
# never sends it (it connects to 127.0.0.1, and libcurl sends no SNI for an IP address).
CONTROL_SNI = "control.dvemu.invalid"


class TlsFaults:
    """Which certificate the emulator presents, chosen per handshake and switchable at run time.

    ``contexts`` maps each mode but "stall" to a server SSLContext: "good" (the test CA's
    certificate for 127.0.0.1 and localhost), "wrong_host" (same CA, a certificate for another
    host name only), "expired" (same CA and names, notAfter in the past), "unknown_ca" (right
    names, signed by a CA nobody trusts).  "stall" accepts the connection and reads the
    ClientHello but sends no ServerHello for ``stall_s`` seconds (or until the mode changes),
    then goes on with the good certificate.  The choice is made in the SNI callback, which
    OpenSSL calls for every ClientHello, with or without a server name.  A switch ends the
    connections made before it, as a server restarted with another certificate would: a
    client's next request makes a new handshake and meets the new certificate."""

    def __init__(self, contexts, mode="good", stall_s=30.0):
        self.contexts = contexts
        self.cond = threading.Condition()
        self.base = self._check({"mode": mode, "stall_s": stall_s})
        self.mode, self.stall_s = self.base
        self.handshakes = {m: 0 for m in TLS_MODES + ("control",)}
        self.stalled = 0
        self.live = weakref.WeakSet()     # connections of clients other than the control surface
        contexts["good"].sni_callback = self._pick

    @property
    def context(self):
        """The context every connection is wrapped with (its SNI callback picks the real one)."""
        return self.contexts["good"]

    @staticmethod
    def _check(data):
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        unknown = [k for k in data if k not in ("mode", "stall_s", "reset")]
        if unknown:
            raise ValueError("unknown TLS keys: %s" % ", ".join(sorted(unknown)))
        mode, stall = data.get("mode"), data.get("stall_s")
        if mode is not None and mode not in TLS_MODES:
            raise ValueError("mode must be one of %s" % ", ".join(TLS_MODES))
        if stall is not None and (isinstance(stall, bool) or not isinstance(stall, (int, float))
                                  or not 0 <= stall <= 3600):
            raise ValueError("stall_s must be a number of seconds between 0 and 3600")
        return mode, None if stall is None else float(stall)

    def set(self, data):
        """Merge ``{"mode": M, "stall_s": S}``; ``{"reset": true}`` first restores the start-up
        mode.  Stalled handshakes are woken: they go on if the mode is no longer "stall"."""
        mode, stall = self._check(data)
        with self.cond:
            before = self.mode
            if data.get("reset"):
                self.mode, self.stall_s = self.base
            if mode is not None:
                self.mode = mode
            if stall is not None:
                self.stall_s = stall
            self.cond.notify_all()
            ended = list(self.live) if self.mode != before else []
        for sock in ended:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return self.snapshot()

    def snapshot(self):
        with self.cond:
            return {"mode": self.mode, "stall_s": self.stall_s, "modes": list(TLS_MODES),
                    "control_sni": CONTROL_SNI, "handshakes": dict(self.handshakes),
                    "stalled_now": self.stalled}

    def _pick(self, sock, server_name, ctx):
        with self.cond:
            if server_name == CONTROL_SNI:
                self.handshakes["control"] += 1
                return None
            mode = self.mode
            self.handshakes[mode] += 1
            if mode == "stall":
                deadline = time.monotonic() + self.stall_s
                self.stalled += 1
                try:
                    while self.mode == "stall" and time.monotonic() < deadline:
                        self.cond.wait(deadline - time.monotonic())
                finally:
                    self.stalled -= 1
                mode = self.mode if self.mode != "stall" else "good"
            self.live.add(sock)
        if mode != "good":
            sock.context = self.contexts[mode]
        return None

"""Targeted faults: rules that pick requests by method, path and count, and spoil them.

The probabilistic faults of control.Settings (throttle, server_error, drop) hit any request at
random.  A rule hits the requests a test names, as often as it says, in one of the ways real
networks, gateways and proxies fail (README "Targeted faults"):

    {"method": "PATCH", "path": "accounts\\(", "apply": true, "deliver": "reset"}

is "the update is carried out, then the connection is reset before the answer arrives".

A rule is matched against the method and the decoded request target (path and query) of every
request except the control surface's.  Each matching request counts towards the rule's
``after`` (let that many through first), ``every`` (then every Nth fires), ``probability``
(then it fires with that chance, from its own PRNG seeded with ``seed``, default its id, so a
soak is repeatable) and ``count`` (fires that many times; 0 = no limit).  When several rules fire on one request the oldest wins; every
rule that matched still counts the request.

What a firing rule does:

* ``apply`` false (default): the request is not carried out; the answer is the rule's own
  (``status`` default 200, ``body``/``json``, ``content_type``, ``headers``, ``size``).
* ``apply`` true: the request is carried out as usual (its effect lands in the store); the
  answer that would have gone out is then spoilt: ``status``, ``body``/``json``, ``headers``
  given in the rule replace the real ones.
* ``deliver`` says how the answer goes out: ``full``; ``reset`` (no answer, TCP RST);
  ``close`` (no answer, FIN); ``silent`` (no answer for ``seconds``, then FIN: accepted then
  silent); ``truncate`` (headers promising the whole body, ``bytes`` of it, then ``then``:
  close or reset); ``stall`` (headers and ``bytes`` of the body, then nothing for ``seconds``,
  then close); ``trickle`` (the whole body, ``chunk`` bytes every ``interval_ms``).
* ``content_length`` puts that number in Content-Length whatever the body is (wrong on
  purpose); ``delay_ms`` waits before answering.  Every spoilt answer closes the connection.

Waits (``silent``, ``stall``, ``delay_ms``, ``trickle``) end early when the rule is deleted,
so a test's clean-up never leaves a handler asleep.
"""

import json
import random
import re
import threading

DELIVERIES = ("full", "reset", "close", "silent", "truncate", "stall", "trickle")

# A login portal / WAF page: what an intercepting proxy answers instead of the Web API.
LOGIN_PAGE = (b"<!DOCTYPE html>\r\n<html><head><title>Sign in to your account</title></head>\r\n"
              b"<body><form method=\"post\" action=\"/login\"><p>Your session has expired. "
              b"Please sign in again.</p></form></body></html>\r\n")

_SPEC = {
    # key: (types, check or None)
    "method": ((str, list), None),
    "path": ((str,), None),
    "count": ((int,), lambda v: v >= 0),
    "every": ((int,), lambda v: v >= 1),
    "after": ((int,), lambda v: v >= 0),
    "apply": ((bool,), None),
    "status": ((int,), lambda v: 100 <= v <= 599),
    "body": ((str,), None),
    "json": ((dict, list, str, int, float, bool, type(None)), None),
    "content_type": ((str,), None),
    "headers": ((dict,), None),
    "size": ((int,), lambda v: 0 <= v <= 1 << 31),
    "deliver": ((str,), lambda v: v in DELIVERIES),
    "bytes": ((int,), lambda v: v >= 0),
    "seconds": ((int, float), lambda v: v >= 0),
    "then": ((str,), lambda v: v in ("close", "reset")),
    "chunk": ((int,), lambda v: v >= 1),
    "interval_ms": ((int, float), lambda v: v >= 0),
    "content_length": ((int,), lambda v: v >= 0),
    "delay_ms": ((int, float), lambda v: v >= 0),
    "probability": ((int, float), lambda v: 0 <= v <= 1),
    "seed": ((int,), None),
    "note": ((str,), None),
}


class Rule:
    def __init__(self, rid, spec):
        if not isinstance(spec, dict):
            raise ValueError("a rule must be a JSON object")
        for k, v in spec.items():
            if k not in _SPEC:
                raise ValueError("unknown rule key '%s' (known: %s)" % (k, ", ".join(sorted(_SPEC))))
            types, check = _SPEC[k]
            if isinstance(v, bool) and bool not in types:
                raise ValueError("rule key '%s' has the wrong type" % k)
            if not isinstance(v, types) or (check and not check(v)):
                raise ValueError("rule key '%s' has a bad value: %r" % (k, v))
        if "body" in spec and "json" in spec:
            raise ValueError("a rule gives 'body' or 'json', not both")
        self.id = rid
        self.spec = dict(spec)
        m = spec.get("method")
        if isinstance(m, list):
            if not all(isinstance(x, str) for x in m):
                raise ValueError("rule key 'method' must be a string or a list of strings")
            self.methods = {x.upper() for x in m}
        else:
            self.methods = {m.upper()} if m else None
        try:
            self.path = re.compile(spec["path"]) if spec.get("path") else None
        except re.error as e:
            raise ValueError("rule key 'path' is not a regular expression: %s" % e)
        for k, v in (spec.get("headers") or {}).items():
            if not isinstance(v, (str, int)) or "\n" in str(v) or "\r" in str(v):
                raise ValueError("header '%s' must be a one-line string" % k)
        self.count = spec.get("count", 1)
        self.every = spec.get("every", 1)
        self.after = spec.get("after", 0)
        self.apply = spec.get("apply", False)
        self.deliver = spec.get("deliver", "full")
        self.probability = spec.get("probability")
        self.rng = random.Random(spec.get("seed", rid))
        self.matched = 0
        self.fired = 0
        self.release = threading.Event()    # set when the rule is deleted: waits end

    def matches(self, method, target):
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.path is None or self.path.search(target) is not None

    def due(self, may_fire=True):
        """Counts one matching request; True if the rule fires on it (only if MAY_FIRE: an
        older rule already took it)."""
        self.matched += 1
        n = self.matched - self.after
        if not may_fire or n <= 0 or n % self.every:
            return False
        if self.count and self.fired >= self.count:
            return False
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def active(self):
        return not self.count or self.fired < self.count

    def wait(self, seconds):
        """Sleep SECONDS, or less if the rule is deleted meanwhile."""
        if seconds > 0:
            self.release.wait(seconds)

    def describe(self):
        out = dict(self.spec)
        out.update({"id": self.id, "matched": self.matched, "fired": self.fired, "active": self.active()})
        return out

    # -- the answer ------------------------------------------------------------------------
    def answer(self, status=None, headers=None, body=None):
        """(status, headers, body) of the spoilt answer: the rule's own, over the real one
        (STATUS, HEADERS, BODY) when the request was carried out."""
        s = self.spec
        st = s.get("status", status if status is not None else 200)
        hdrs = list(headers or [])
        new_body = None
        if "json" in s:
            new_body = json.dumps(s["json"]).encode("utf-8")
            ctype = s.get("content_type", "application/json; charset=utf-8")
        elif "body" in s:
            new_body = s["body"].encode("utf-8")
            ctype = s.get("content_type", "text/html; charset=utf-8")
        elif body is None or "size" in s:
            new_body = LOGIN_PAGE if body is None else body
            ctype = s.get("content_type", "text/html; charset=utf-8" if body is None else None)
        else:
            ctype = s.get("content_type")
        if new_body is not None:
            if "size" in s:
                new_body = _sized(new_body, s["size"])
            body = new_body
        if ctype is not None:
            hdrs = [(k, v) for k, v in hdrs if k.lower() != "content-type"] + [("Content-Type", ctype)]
        for k, v in (s.get("headers") or {}).items():
            hdrs = [(a, b) for a, b in hdrs if a.lower() != k.lower()] + [(k, str(v))]
        hdrs = [(k, v) for k, v in hdrs if k.lower() not in ("content-length", "connection")]
        return st, hdrs, body or b""


def _sized(seed, n):
    """N bytes made of SEED repeated (a huge body, or a short one)."""
    if not seed:
        seed = b"x"
    reps = n // len(seed) + 1
    return (seed * reps)[:n]


class Rules:
    """The rules in force, oldest first (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, specs):
        """Add one rule (a JSON object) or several ({"rules": [...]} or a list); all or none."""
        if isinstance(specs, dict) and set(specs) == {"rules"}:
            specs = specs["rules"]
        if isinstance(specs, dict):
            specs = [specs]
        if not isinstance(specs, list) or not specs:
            raise ValueError("body must be a rule, a list of rules or {\"rules\": [...]}")
        with self.lock:
            made = [Rule(self.next_id + i, s) for i, s in enumerate(specs)]
            self.next_id += len(made)
            self.rules.extend(made)
        return [r.describe() for r in made]

    def pick(self, method, target):
        """The rule that fires on this request, or None.  Every matching rule counts it."""
        chosen = None
        with self.lock:
            for r in self.rules:
                if r.matches(method, target) and r.due(chosen is None):
                    chosen = r
        return chosen

    def describe(self):
        with self.lock:
            return [r.describe() for r in self.rules]

    def delete(self, rid=None):
        """Delete rule RID (None: all).  Returns how many went; their waits end."""
        with self.lock:
            gone = [r for r in self.rules if rid is None or r.id == rid]
            self.rules = [r for r in self.rules if r not in gone]
        for r in gone:
            r.release.set()
        return len(gone)

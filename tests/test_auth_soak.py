"""Token soak: 5-second access tokens while 8 threads read files through the mount.

Zero failed reads, no token rejected by the Web API, and token requests close to the
number of lifetimes elapsed (renewal a little ahead of expiry) - no storms.
The refresh-token flow is the demanding one: every renewal also rotates the refresh
token and saves it before the new access token is used.

DYNFS_SOAK_SECONDS sets the length (default 30; `make soak` runs 600).
"""

import os
import threading
import time

import pytest

from lib.auth import config, read_store, tenant, unlisted_paths, write_store
from lib.fixtures import emulator_fixture
from lib.mount import stats_delta

SECONDS = float(os.environ.get("DYNFS_SOAK_SECONDS", "30"))
LIFETIME = 5
THREADS = 8
PAUSE = 0.01            # seconds between two reads of one thread: ~800 reads/s in all


semu = emulator_fixture(orgs="contoso", records={"accounts": 10, "contacts": 200}, seed=12)


def soak(m, paths, seconds):
    """THREADS readers over PATHS for SECONDS; returns (reads, failures)."""
    stop = time.monotonic() + seconds
    counts = [0] * THREADS
    failures = []
    lock = threading.Lock()

    def reader(i):
        n = i
        while time.monotonic() < stop:
            p = paths[n % len(paths)]
            try:
                with open(p, "rb") as f:
                    if not f.read(1):
                        raise OSError("empty read of %s" % p)
            except OSError as e:
                with lock:
                    failures.append("%s: %s" % (p, e))
            counts[i] += 1
            n += THREADS
            time.sleep(PAUSE)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), failures


@pytest.mark.parametrize("flow", ["refresh_token", "client_credentials"])
def test_token_soak(semu, mount_factory, tmp_path, flow):
    # no service-protection limit: the soak is about tokens, not throttling
    semu.faults(reset=True, token_lifetime=LIFETIME, budget_requests=10 ** 9, max_concurrent=1000)
    try:
        keys = {}
        if flow == "refresh_token":
            keys["token_store"] = str(tmp_path / "contoso.token")
            write_store(keys["token_store"],
                        semu.control_post("contoso", "issue-refresh-token")["refresh_token"])
        # cache_ttl = 0: every read is a Web API request that needs a valid token
        cfg = config(str(tmp_path / "c.ini"), {"contoso": tenant(semu, "contoso", flow, **keys)},
                     cache_ttl=0)
        m = mount_factory(cfg, emu=semu)
        paths = unlisted_paths(semu, m.path, "contoso", 200)
        seconds = SECONDS if flow == "refresh_token" else min(SECONDS, 15)
        t0 = time.monotonic()
        d = stats_delta(semu, lambda: soak(m, paths, seconds))
        elapsed = time.monotonic() - t0
        reads, failures = d.result
        print("%s: %d reads in %.0f s, %d token requests, statuses %r"
              % (flow, reads, elapsed, d["token"], {k: v for k, v in d.status.items() if v}))
        assert not failures, "%d failed reads, e.g. %s" % (len(failures), failures[:5])
        assert reads > 10 * seconds, reads
        assert d.status.get("401", 0) == 0, "a token was used after it expired: %r" % d.status
        assert d.status.get("429", 0) == 0, d.status
        # renewed ahead of expiry (at 80%, and never later than 1.25 s before it:
        # "exp" is rounded and requests take time to arrive): about one request per
        # 3.75 s, so between 1 and 1.4 per lifetime elapsed
        lifetimes = elapsed / LIFETIME
        assert lifetimes - 1 <= d["token"] <= 1.4 * lifetimes + 2, \
            "%d token requests in %.0f s (%.0f lifetimes)" % (d["token"], elapsed, lifetimes)
        if flow == "refresh_token":
            assert read_store(keys["token_store"])
        m.assert_alive()
    finally:
        semu.clear_faults()

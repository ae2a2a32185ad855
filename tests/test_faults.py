"""Transient server trouble through the mount: throttling, 5xx, dropped connections,
revoked tokens.  Reads must ride them out (or fail with a clear errno), the daemon
must stay up, and the retry policy must show in the request counts.

Each test reads records that were never listed, so every read is exactly one
single-record GET (plus retries) and the counts are exact.
"""

import errno
import os
import time
import uuid

import pytest

from lib.mount import Ini, stats_delta


@pytest.fixture
def faulty(std_emu):
    """Clear the emulator's faults after the test, whatever happens."""
    try:
        yield std_emu
    finally:
        std_emu.clear_faults()


def config(emu, tmp_path, **global_keys):
    ini = Ini.load(emu.config_path)
    for k, v in global_keys.items():
        ini["global"][k] = str(v)
    return ini.write(str(tmp_path / "faults.ini"))


def unlisted(m, emu, n, es="contacts", org="contoso"):
    """Paths of N records of a set that the mount has not listed."""
    recs = emu.records(org, es)[:n]
    key = es[:-1] + "id"
    return [os.path.join(m.path, org, es, r[key] + ".json") for r in recs]


def read_all(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def test_throttling_waits_retry_after(faulty, mount_factory, tmp_path):
    m = mount_factory(config(faulty, tmp_path, max_retries=8), emu=faulty)
    paths = unlisted(m, faulty, 12)
    faulty.faults(throttle=0.4, retry_after=1, seed=11)
    d = stats_delta(faulty, lambda: read_all(paths))
    assert all(d.result), "a read returned nothing"
    assert d.status.get("429", 0) > 0, "the fault never fired: %r" % d.status
    # every 429 was followed by a retry of the same GET, and each record arrived once
    assert d["get"] == len(paths) + d.status["429"], d
    assert d.status.get("200", 0) == len(paths), d.status
    # the wait is the server's Retry-After (1 s = 1000 ms), not a guess
    log = m.log_text()
    assert "HTTP 429" in log and "retry 1 in 1000 ms" in log, log[-2000:]
    m.assert_alive()


def test_server_errors_and_drops_are_retried(faulty, mount_factory, tmp_path):
    m = mount_factory(config(faulty, tmp_path, max_retries=8), emu=faulty)
    paths = unlisted(m, faulty, 12, es="accounts")
    faulty.faults(server_error=0.3, drop=0.15, seed=5)
    d = stats_delta(faulty, lambda: read_all(paths))
    failures = sum(v for k, v in d.status.items() if k.startswith("5")) + d.status.get("dropped", 0)
    assert failures > 0, "no fault fired: %r" % d.status
    assert d.status.get("200", 0) == len(paths), d.status
    m.assert_alive()


def test_persistent_server_error_gives_eio_after_max_retries(faulty, mount_factory, tmp_path):
    m = mount_factory(config(faulty, tmp_path, max_retries=2), emu=faulty)
    p = unlisted(m, faulty, 1)[0]
    faulty.faults(server_error=1.0, seed=1)

    def attempt():
        try:
            read_all([p])
        except OSError as e:
            return e
        return None

    d = stats_delta(faulty, attempt)
    assert d.result is not None and d.result.errno in (errno.EIO, errno.ETIMEDOUT), d.result
    assert d["get"] == 3, "expected 1 try + max_retries=2 retries: %r" % d
    m.assert_alive()
    faulty.clear_faults()
    assert read_all([p])[0].startswith(b"{\n"), "the record is readable once the server recovers"


def test_not_found_is_not_retried(faulty, mount_factory, tmp_path):
    m = mount_factory(config(faulty, tmp_path), emu=faulty)
    p = os.path.join(m.path, "contoso", "accounts", str(uuid.uuid4()) + ".json")
    d = stats_delta(faulty, lambda: os.path.exists(p))
    assert d.result is False
    nonzero = {k: v for k, v in d.status.items() if v}
    assert d["get"] == 1 and nonzero == {"404": 1}, (d, nonzero)


def test_revoked_token_renewed_once_and_retried(faulty, mount_factory, tmp_path):
    m = mount_factory(config(faulty, tmp_path), emu=faulty)
    first, second = unlisted(m, faulty, 2, es="accounts")
    read_all([first])                         # the mount has a working token
    faulty.control_post("contoso", "revoke-access-tokens")
    d = stats_delta(faulty, lambda: read_all([second]))
    assert d.result[0].startswith(b"{\n")
    assert d.status.get("401") == 1, d.status
    assert d["token"] == 1 and d["get"] == 2, d
    m.assert_alive()


def test_short_lived_tokens_renew_before_expiry(faulty, mount_factory, tmp_path):
    faulty.faults(token_lifetime=3)
    m = mount_factory(config(faulty, tmp_path), emu=faulty)
    paths = unlisted(m, faulty, 8, es="accounts")

    def slow_reads():
        for p in paths:
            read_all([p])
            time.sleep(0.6)

    d = stats_delta(faulty, slow_reads)
    # ~4.8 s of reads with 3 s tokens renewed at 80% of their life: 1-3 renewals,
    # never a rejected token
    assert 1 <= d["token"] <= 3, d
    assert d.status.get("401", 0) == 0, d.status
    m.assert_alive()

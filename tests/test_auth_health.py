"""A tenant whose credentials stop working: its files fail with EACCES and one clear log
line says what to fix, the other tenants keep working, the token endpoint is not hammered,
and the tenant recovers by itself once the cause is fixed - without remounting.

Tokens live 2 s here, so a renewal (and so the failure) comes quickly.
"""

import errno
import time

import pytest

from lib.auth import (config, device_login, first_record, read_store, tenant, unlisted_paths,
                      write_private, write_store)
from lib.fixtures import emulator_fixture
from lib.mount import stats_delta


hemu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 10, "contacts": 40}, seed=6)


@pytest.fixture
def short(hemu):
    hemu.faults(reset=True, token_lifetime=2, device_interval=1)
    try:
        yield hemu
    finally:
        hemu.clear_faults()


def read(path):
    """None if the read worked, else the errno."""
    try:
        with open(path, "rb") as f:
            f.read()
        return None
    except OSError as e:
        return e.errno


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def test_wrong_secret_file_then_fixed(short, mount_factory, tmp_path):
    o = short.org("contoso")
    secret = write_private(str(tmp_path / "contoso.secret"), o["client_secret"] + "\n")
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(short, "contoso", client_secret_file=secret),
        "fabrikam": tenant(short, "fabrikam")}, cache_ttl=0)
    m = mount_factory(cfg, emu=short)
    cpaths = unlisted_paths(short, m.path, "contoso", 40)
    fpaths = unlisted_paths(short, m.path, "fabrikam", 40)
    assert read(cpaths[0]) is None

    # the secret is rotated to a wrong value: the next renewal is refused
    write_private(secret, "wrong-secret-value\n")
    assert wait_for(lambda: read(cpaths[1]) == errno.EACCES, 10), "contoso never failed"
    t0 = time.monotonic()
    d = stats_delta(short, lambda: [read(p) for p in cpaths[2:12]] + [read(p) for p in fpaths[:10]])
    assert d.result[:10] == [errno.EACCES] * 10, d.result
    assert d.result[10:] == [None] * 10, "the other tenant suffered: %r" % d.result[10:]
    assert time.monotonic() - t0 < 5, "failing reads are not quick"
    # during the hold-off no contoso token request at all; fabrikam renews its own
    assert d["token"] <= 3, d

    log = m.log_text()
    refused = [l for l in log.splitlines() if "contoso: access refused" in l]
    assert len(refused) == 1, log
    assert "AADSTS7000215" in refused[0] and "Value, not its Secret ID" in refused[0] \
        and "EACCES" in refused[0], refused[0]
    assert "wrong-secret-value" not in log

    # fixed: the file holds the right secret again; no remount
    write_private(secret, o["client_secret"] + "\n")
    assert wait_for(lambda: read(cpaths[12]) is None, 40, step=1), "contoso never recovered"
    assert read(cpaths[13]) is None
    log = m.log_text()
    assert len([l for l in log.splitlines() if "contoso: recovered" in l]) == 1, log
    assert len([l for l in log.splitlines() if "contoso: access refused" in l]) == 1, log


def test_expired_secret_no_token_storm(short, mount_factory, tmp_path):
    cfg = config(str(tmp_path / "c.ini"), {"contoso": tenant(short, "contoso")}, cache_ttl=0)
    m = mount_factory(cfg, emu=short)
    paths = unlisted_paths(short, m.path, "contoso", 40)
    short.control_post("contoso", "secret-expired", {"expired": True})
    try:
        assert wait_for(lambda: read(paths[0]) == errno.EACCES, 10)

        def hammer():
            end = time.monotonic() + 12
            n = 0
            while time.monotonic() < end:
                assert read(paths[1 + n % 30]) == errno.EACCES
                n += 1
            return n

        d = stats_delta(short, hammer)
        # 12 s of constant reads: the hold-off (5 s, doubling to 30 s) allows 1-3 tries
        assert d.result > 50, d.result
        assert 1 <= d["token"] <= 3, d
        assert "7000222" in m.log_text() and "has expired" in m.log_text()
    finally:
        short.control_post("contoso", "secret-expired", {"expired": False})
    assert wait_for(lambda: read(paths[35]) is None, 40, step=1), "never recovered"


def test_revoked_refresh_token_then_login_again(short, mount_factory, tmp_path, dynfs_bin):
    store = str(tmp_path / "contoso.token")
    write_store(store, short.control_post("contoso", "issue-refresh-token")["refresh_token"])
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(short, "contoso", "refresh_token", token_store=store),
        "fabrikam": tenant(short, "fabrikam")}, cache_ttl=0)
    m = mount_factory(cfg, emu=short)
    paths = unlisted_paths(short, m.path, "contoso", 40)
    assert read(paths[0]) is None
    short.revoke_refresh_tokens("contoso")
    assert wait_for(lambda: read(paths[1]) == errno.EACCES, 10)
    assert first_record(m.path, "fabrikam").startswith(b"{")
    log = m.log_text()
    assert "AADSTS70008" in log and "sign in again with 'dynfs login'" in log, log

    old = read_store(store)
    status, text = device_login(dynfs_bin, short, cfg, "contoso", "contoso")
    assert status == 0, text
    assert read_store(store) != old
    assert wait_for(lambda: read(paths[2]) is None, 40, step=1), "never recovered after login"
    assert "contoso: recovered" in m.log_text()

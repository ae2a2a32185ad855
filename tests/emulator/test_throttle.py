"""Service-protection throttling and injected faults (reference §6)."""

import http.client
import re
import threading

import pytest

from lib.client import assert_odata_error
from lib.fixtures import emulator_fixture

THROTTLE_CODES = ("0x80072322", "0x80072321", "0x80072326")


emu = emulator_fixture(orgs="contoso", records={"accounts": 10, "contacts": 3}, seed=13)


@pytest.fixture(autouse=True)
def clean_faults(emu, api):
    api.token()  # token fetched before any fault is armed
    emu.clear_faults()
    yield
    emu.clear_faults()


def assert_retry_after(r, expected=None):
    ra = r.headers.get("Retry-After")
    assert ra is not None and re.match(r"^\d+$", ra), "Retry-After must be an integer: %r" % ra
    if expected is not None:
        assert int(ra) == expected, ra
    return int(ra)


def test_request_budget(emu, api):
    emu.faults(budget_requests=5, budget_window=30)
    for i in range(5):
        r = api.get("WhoAmI")
        assert r.status == 200, (i, r)
    r = api.get("WhoAmI")
    assert_odata_error(r, 429, code="0x80072322",
                       message="Number of requests exceeded the limit of 5 over time window of 30 seconds.")
    ra = assert_retry_after(r)
    assert 1 <= ra <= 30, ra
    # control endpoints are not subject to the budget
    emu.stats()


def test_budget_cleared_by_reset(emu, api):
    emu.faults(budget_requests=1, budget_window=30)
    assert api.get("WhoAmI").status == 200
    assert api.get("WhoAmI").status == 429
    emu.clear_faults()
    assert api.get("WhoAmI").status == 200


def _concurrent(api, n, path="WhoAmI"):
    results = [None] * n
    start = threading.Barrier(n)

    def run(i):
        start.wait()
        try:
            results[i] = api.get(path)
        except Exception as e:  # noqa: BLE001
            results[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return results


def test_concurrency_limit(emu, api):
    emu.faults(max_concurrent=2, latency_ms=1500)
    res = _concurrent(api, 5)
    statuses = sorted(r.status for r in res)
    assert statuses == [200, 200, 429, 429, 429], res
    for r in res:
        if r.status == 429:
            assert_odata_error(r, 429, code="0x80072326",
                               message="Number of concurrent requests exceeded the limit of 2.")
            assert_retry_after(r)


def test_concurrency_limit_with_slow_handler(emu, api):
    # same limit, but the requests are slow inside the handler (record cost) instead of latency
    n = len(api.get("accounts?$select=name").body["value"])
    emu.faults(max_concurrent=2, record_cost_us=int(1.5e6 / n))
    res = _concurrent(api, 5, "accounts?$select=name")
    statuses = sorted(r.status for r in res)
    assert statuses == [200, 200, 429, 429, 429], res


def test_throttle_always(emu, api):
    emu.faults(throttle=1.0, retry_after=7)
    for path in ("WhoAmI", "accounts?$select=name", "EntityDefinitions?$select=LogicalName"):
        r = api.get(path)
        assert_odata_error(r, 429, code=THROTTLE_CODES)
        assert_retry_after(r, 7)


def test_server_error_always(emu, api):
    emu.faults(server_error=1.0)
    for _ in range(3):
        r = api.get("WhoAmI")
        assert 500 <= r.status <= 599, r


def test_drop_always(emu, api):
    emu.faults(drop=1.0)
    for _ in range(3):
        with pytest.raises((http.client.RemoteDisconnected, http.client.BadStatusLine,
                            http.client.IncompleteRead, ConnectionError)):
            api.get("WhoAmI")
    emu.clear_faults()
    assert api.get("WhoAmI").status == 200  # server still alive


def _outcomes(api, n=40):
    out = []
    for _ in range(n):
        try:
            out.append(api.get("WhoAmI").status)
        except (http.client.HTTPException, ConnectionError):
            out.append("drop")
    return out


def test_faults_deterministic_for_seed(emu, api):
    emu.faults(seed=1234, throttle=0.25, server_error=0.2, drop=0.1)
    a = _outcomes(api)
    emu.clear_faults()
    emu.faults(seed=1234, throttle=0.25, server_error=0.2, drop=0.1)
    b = _outcomes(api)
    assert a == b
    assert len(set(a)) >= 3, a  # a real mix of outcomes
    emu.clear_faults()
    emu.faults(seed=999, throttle=0.25, server_error=0.2, drop=0.1)
    c = _outcomes(api)
    assert c != a


def test_throttle_probability_roughly_applied(emu, api):
    emu.faults(seed=7, throttle=0.5)
    out = _outcomes(api, 60)
    n429 = out.count(429)
    assert 15 <= n429 <= 45, out
    assert set(out) <= {200, 429}, out


def test_budget_headers_count_down(emu, api):
    emu.faults(budget_requests=50, budget_window=60)
    seen = []
    for _ in range(3):
        r = api.get("WhoAmI")
        seen.append(int(r.headers["x-ms-ratelimit-burst-remaining-xrm-requests"]))
    assert seen == [49, 48, 47], seen


def test_token_endpoint_throttled_too(emu, api):
    emu.faults(throttle=1.0, retry_after=4)
    r = api.token_request({"client_id": api.client_id, "client_secret": api.client_secret,
                           "scope": api.scope, "grant_type": "client_credentials"})
    assert r.status == 429, r
    assert_retry_after(r, 4)


def test_server_error_statuses_are_gateway_errors(emu, api):
    emu.faults(server_error=1.0)
    sts = {api.get("WhoAmI").status for _ in range(6)}
    assert sts <= {500, 502, 503, 504} and sts, sts


def test_budget_is_per_principal(emu, api):
    emu.faults(budget_requests=2, budget_window=30)
    assert api.get("WhoAmI").status == 200
    assert api.get("WhoAmI").status == 200
    assert api.get("WhoAmI").status == 429
    # a delegated user is another principal with its own budget
    o = emu.org()
    r = api.token_request({"client_id": o["public_client_id"], "grant_type": "refresh_token",
                           "refresh_token": o["refresh_token"], "scope": o["url"] + "/.default offline_access"})
    assert r.status == 200, r
    assert api.get("WhoAmI", token=r.body["access_token"]).status == 200

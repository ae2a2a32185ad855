"""Hostile names and answers: whatever a file name, a record or a server message holds, every
log line stays one line, with control characters escaped (\\n, \\x1b) -- no forged lines, no
terminal escape sequences reaching whoever reads the log.
"""

import errno
import os

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import loads_verbatim, render
from lib.tools import write_close, xattr

ORG = "contoso"
SET = "accounts"

hemu = emulator_fixture(orgs=ORG, records={"accounts": 10, "contacts": 2}, seed=59)
hmnt = mount_fixture("hemu", state_home=True)


def test_control_characters_in_a_name_are_escaped_in_the_log(hemu, hmnt):
    name = "evil\n12:00:00 dynfs: forged line\x1b[31m\x07.json"
    p = os.path.join(hmnt.path, ORG, SET, name)
    err = None
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"{ this is not JSON\n")
    try:
        os.close(fd)
    except OSError as e:
        err = e
    assert err is not None and err.errno == errno.EINVAL, err
    log = hmnt.log_text()
    assert "\x1b" not in log and "\x07" not in log, "a terminal escape reached the log"
    assert "\nforged line" not in log and "\n12:00:00 dynfs: forged" not in log, log[-2000:]
    assert "evil\\n12:00:00 dynfs: forged line\\x1b[31m\\x07" in log, log[-2000:]
    # the attribute keeps the name as it is: it is no log line
    assert "save failed" in xattr(p)
    os.unlink(p)


def test_control_characters_in_a_server_message_are_escaped(hemu, hmnt):
    rid = hemu.records(ORG, SET)[0]["accountid"]
    p = os.path.join(hmnt.path, ORG, SET, rid + ".json")
    with open(p, "rb") as f:
        obj = loads_verbatim(f.read())
    obj["name"] = "Renamed"
    hemu.rule(method="PATCH", status=400, json={"error": {
        "code": "0x80040203", "message": "bad value\n\x1b[2Jcleared your screen"}})
    try:
        err = write_close(p, render(obj))
    finally:
        hemu.clear_faults()
    assert err is not None and err.errno == errno.EINVAL, err
    log = hmnt.log_text()
    assert "\x1b" not in log
    assert "bad value\\n\\x1b[2Jcleared your screen" in log, log[-2000:]

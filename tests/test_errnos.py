"""Clear errnos (SEMANTICS.md "Failures never lose an edit"): what close() says names the
problem in the file, not a symptom of it.

- a lookup that points to no record: EINVAL naming the column (the server's 404 is about
  the target, not about the file being saved);
- (a file over the cap and a primary key that is not a GUID string are rows of the
  bad-input table, test_bad_inputs.py;)
- which tools report a failed close() at all, and getfattr for the others.
"""

import errno
import glob
import os
import shlex
import subprocess
import uuid

import pytest

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import loads_verbatim, render
from lib.tools import write_close, xattr

ORG = "contoso"
SET = "accounts"

eemu = emulator_fixture(orgs=ORG, records={"accounts": 20, "contacts": 2}, seed=61)
emnt = mount_fixture("eemu", state_home=True)


def fpath(m, name):
    return os.path.join(m.path, ORG, SET, name)


def rescues(state_home, stem):
    d = os.path.join(state_home, "dynfs", "rescue", ORG, SET)
    return sorted(glob.glob(os.path.join(d, glob.escape(stem) + ".*.json")))


def test_lookup_to_no_record_is_einval(eemu, emnt, state_home):
    rid = eemu.records(ORG, SET)[0]["accountid"]
    p = fpath(emnt, rid + ".json")
    with open(p, "rb") as f:
        obj = loads_verbatim(f.read())
    gone = str(uuid.uuid4())
    obj["_parentaccountid_value"] = gone
    err = write_close(p, render(obj))
    assert err is not None and err.errno == errno.EINVAL, err
    x = xattr(p)
    assert "lookup '_parentaccountid_value'" in x and gone in x and "in accounts" in x, x
    assert eemu.record(ORG, SET, rid).get("_parentaccountid_value") != gone


def test_new_record_with_a_lookup_to_no_record_is_einval(eemu, emnt):
    p = fpath(emnt, "orphan.json")
    gone = str(uuid.uuid4())
    err = write_close(p, render({"name": "Orphan", "_parentaccountid_value": gone}),
                      flags=os.O_CREAT | os.O_EXCL)
    assert err is not None and err.errno == errno.EINVAL, err
    assert "lookup '_parentaccountid_value'" in xattr(p)
    os.unlink(p)


# (tool, shell command with {bad} and {p}, does it report the failed save?)
TOOLS = [
    ("cp", "printf '%s' {bad} > {src} && cp {src} {p}", True),
    ("cat", "printf '%s' {bad} | cat > {p}", True),
    ("tee", "printf '%s' {bad} | tee {p} > /dev/null", True),
    ("dd", "printf '%s' {bad} | dd of={p} status=none", True),
    ("awk", "awk 'BEGIN {{ printf \"%s\", \"{{ not json\" }}' > {p}", True),
    ("sed -i", "sed -i 's/^{{/{{ not json/' {p}", True),
    ("bash echo", "echo {bad} > {p}", False),
]


@pytest.mark.parametrize("tool,cmd,reports", TOOLS, ids=[t[0] for t in TOOLS])
def test_who_hears_a_failed_save(eemu, emnt, tmp_path, tool, cmd, reports):
    """SEMANTICS.md "Who hears about a failed save": the tools that check close() fail; the
    shell's own redirections do not, and getfattr tells the truth either way."""
    rid = eemu.records(ORG, SET)[2 + [t[0] for t in TOOLS].index(tool)]["accountid"]
    p = fpath(emnt, rid + ".json")
    r = subprocess.run(["bash", "-c", cmd.format(bad=shlex.quote("{ not json"), p=shlex.quote(p),
                                                 src=tmp_path / "src.json")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert (r.returncode != 0) == reports, (r.returncode, r.stderr)
    assert xattr(p).startswith("save failed: invalid JSON")


small = mount_fixture("eemu", ini={"global": {"local_size": "2M"}}, state_home=True)


def test_local_files_are_bounded_in_all(eemu, small, state_home):
    """local_size bounds what local files and files being written hold together: past it a
    write fails with ENOSPC, the save of that file fails and keeps its bytes, and df tells."""
    d = os.path.join(small.path, ORG, SET)
    v = os.statvfs(small.path)
    assert v.f_blocks * v.f_frsize == 2 << 20, v
    free0 = v.f_bavail
    with open(os.path.join(d, "notes.swp"), "wb") as f:
        f.write(b"s" * (1536 * 1024))
    v = os.statvfs(small.path)
    assert free0 - v.f_bavail == 1536 * 1024 // v.f_frsize, (free0, v.f_bavail)
    p = os.path.join(d, "big.json")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    written, write_err, close_err = 0, None, None
    try:
        while written < 4 << 20:
            written += os.write(fd, b'{"name": "' + b"x" * 65536)
    except OSError as e:
        write_err = e
    try:
        os.close(fd)
    except OSError as e:
        close_err = e
    assert write_err is not None and write_err.errno == errno.ENOSPC, write_err
    assert 0 < written <= 512 * 1024, written
    assert close_err is not None and close_err.errno == errno.ENOSPC, close_err
    assert "local_size" in xattr(p)
    found = rescues(state_home, "big")
    assert len(found) == 1 and os.path.getsize(found[0]) == written, found
    v = os.statvfs(small.path)
    assert v.f_bavail * v.f_frsize < 65546, "df shows room the write did not get"
    os.unlink(p)
    os.unlink(os.path.join(d, "notes.swp"))
    assert os.statvfs(small.path).f_bavail == free0

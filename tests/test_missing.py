"""Names that do not exist: ENOENT, and the daemon stays up."""

import errno
import os
import uuid

import pytest


def enoent(fn, *args):
    with pytest.raises(OSError) as ei:
        fn(*args)
    assert ei.value.errno == errno.ENOENT, "%s%r: %r" % (fn.__name__, args, ei.value)


def paths(mnt):
    acc = os.path.join(mnt.path, "contoso", "accounts")
    return {
        "random guid": os.path.join(acc, str(uuid.uuid4()) + ".json"),
        "no such set": os.path.join(mnt.path, "contoso", "nosuchset"),
        "no such tenant": os.path.join(mnt.path, "nosuchtenant"),
        "non-record name": os.path.join(acc, "foo.txt"),
        "guid without .json": os.path.join(acc, str(uuid.uuid4())),
        "not a guid": os.path.join(acc, "not-a-guid.json"),
        "record in no such tenant": os.path.join(mnt.path, "nosuchtenant", "accounts",
                                                 str(uuid.uuid4()) + ".json"),
    }


@pytest.mark.parametrize("what", ["random guid", "no such set", "no such tenant", "non-record name",
                                  "guid without .json", "not a guid", "record in no such tenant"])
@pytest.mark.parametrize("listed", [False, True], ids=["unlisted", "listed"])
def test_enoent(mnt, mnt2, what, listed):
    """listed: after `ls` of the set (answered from the listing); unlisted: a mount that
    never listed it (answered by the server)."""
    if listed:
        os.listdir(os.path.join(mnt.path, "contoso", "accounts"))
    else:
        mnt = mnt2
    p = paths(mnt)[what]
    enoent(os.stat, p)
    enoent(os.lstat, p)
    enoent(open, p, "rb")
    assert not os.path.exists(p)
    mnt.assert_alive("after looking up %s" % p)


def test_random_guid_in_every_set(mnt):
    for org in ("contoso", "fabrikam"):
        for es in ("accounts", "contacts"):
            enoent(open, os.path.join(mnt.path, org, es, str(uuid.uuid4()) + ".json"), "rb")


def test_listdir_of_missing_dirs(mnt):
    enoent(os.listdir, os.path.join(mnt.path, "contoso", "nosuchset"))
    enoent(os.listdir, os.path.join(mnt.path, "nosuchtenant"))


def test_record_used_as_directory(mnt, std_emu):
    rid = std_emu.records("contoso", "accounts")[0]["accountid"]
    rec = os.path.join(mnt.path, "contoso", "accounts", rid + ".json")
    with pytest.raises(OSError) as ei:
        os.stat(os.path.join(rec, "x"))
    assert ei.value.errno in (errno.ENOTDIR, errno.ENOENT), ei.value
    with pytest.raises(OSError) as ei:
        os.listdir(rec)
    assert ei.value.errno == errno.ENOTDIR, ei.value
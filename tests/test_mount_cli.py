"""The mount command line: `dynfs CONFIG MOUNTPOINT -o ...` as mount(8) and fstab run it,
-o for every setting, the options mount(8) passes for itself, the libfuse options dynfs
refuses, fsname; and the real thing: `mount -t fuse.dynfs` and `mount -a -T FSTAB`.

Every refused or broken command line must fail before any tenant is contacted: the
emulator counts no request.
"""

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time

import pytest

from lib.fixtures import emulator_fixture
from lib.mount import Ini, in_mountinfo, lazy_unmount, run_dynfs, sanitizer_findings

cli_emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 20, "contacts": 5},
                           seed=31)


@pytest.fixture
def ini(cli_emu):
    return Ini.load(cli_emu.config_path)


def status(m, tenant=None):
    path = os.path.join(m.path, tenant, ".status") if tenant else os.path.join(m.path, ".status")
    with open(path) as f:
        return json.load(f)


def mount_source(path):
    """The source column of PATH in /proc/self/mountinfo, and its type."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if left.split()[4] == real:
                fstype, source = right.split()[:2]
                return source.encode().decode("unicode_escape"), fstype
    return None, None


# ---------------------------------------------------------------- CONFIG MOUNTPOINT

def test_source_form_and_ignored_options(cli_emu, mount_factory):
    """mount(8)'s form, with every option mount(8), fstab and systemd use for themselves."""
    m = mount_factory(cli_emu.config_path, emu=cli_emu, source_form=True, extra_args=[
        "-o", "_netdev,nofail,auto,noauto,user,users,nouser,owner,group,defaults",
        "-o", "x-systemd.automount,x-systemd.requires=network-online.target,comment=x,dev,suid"])
    assert sorted(os.listdir(m.path)) == ["contoso", "fabrikam"]
    source, fstype = mount_source(m.path)
    assert fstype == "fuse.dynfs", fstype
    assert source == cli_emu.config_path, source


def test_user_fsname_wins(cli_emu, mount_factory):
    m = mount_factory(cli_emu.config_path, emu=cli_emu, source_form=True,
                      extra_args=["-o", "fsname=crm,subtype=crmfs"])
    assert mount_source(m.path) == ("crm", "fuse.crmfs")


def test_settings_as_options_win_over_the_file(cli_emu, ini, tmp_path, mount_factory):
    ini["global"]["cache_ttl"] = "60"
    ini["global"]["page_size"] = "5000"
    cfg = ini.write(str(tmp_path / "c.ini"))
    m = mount_factory(cfg, emu=cli_emu, source_form=True,
                      extra_args=["-o", "page_size=7,cache_ttl=0", "-o", "cache_size=1M"])
    settings = status(m)["settings"]
    assert settings["page_size"] == "7" and settings["cache_ttl"] == "0", settings
    assert settings["cache_size"] == str(1 << 20), settings
    before = status(m, "contoso")["requests"]["list"]
    assert len(os.listdir(os.path.join(m.path, "contoso", "accounts"))) == 20
    # One page of ids, then the 20 records in pages of 7: at least three more (with
    # page_size 5000 from the file, the records would come in one).
    assert status(m, "contoso")["requests"]["list"] - before >= 1 + 3


def test_uid_gid_umask(cli_emu, mount_factory):
    """-o uid=, gid= and umask= set the owner and clear permission bits of every file and
    folder; kernel_names, no longer used, still mounts (with a warning)."""
    m = mount_factory(cli_emu.config_path, emu=cli_emu,
                      extra_args=["-o", "uid=4321,gid=8765,umask=027,kernel_names=100"])
    d = os.path.join(m.path, "contoso", "accounts")
    f = os.path.join(d, os.listdir(d)[0])
    for p, mode in ((m.path, 0o750), (d, 0o750), (f, 0o640)):
        st = os.stat(p)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (4321, 8765, mode), (p, oct(st.st_mode))
    assert "kernel_names: no longer used" in m.log_text()


def test_loglevel_and_verbose(cli_emu, mount_factory):
    m = mount_factory(cli_emu.config_path, emu=cli_emu, extra_args=["-o", "loglevel=debug"])
    os.listdir(os.path.join(m.path, "contoso", "accounts"))
    assert "http: GET" in m.log_text(), m.log_text()
    v = mount_factory(cli_emu.config_path, emu=cli_emu, extra_args=["-v"])
    os.listdir(os.path.join(v.path, "contoso", "accounts"))
    log = v.log_text()
    assert "listed 20 record(s)" in log and "http: GET" not in log, log


def test_tenant_option(cli_emu, ini, tmp_path, mount_factory):
    """-o tenant=NAME mounts that tenant alone; a broken section of another is no obstacle."""
    ini["contoso"]["colour"] = "blue"
    cfg = ini.write(str(tmp_path / "c.ini"))
    m = mount_factory(cfg, emu=cli_emu, source_form=True, extra_args=["-o", "tenant=fabrikam"])
    assert os.listdir(m.path) == ["fabrikam"]
    assert "colour" in m.log_text()


def no_request(emu, fn):
    s0 = emu.stats()["total"]
    r = fn()
    assert emu.stats()["total"] == s0, "a tenant was contacted before the options were checked"
    return r


@pytest.mark.parametrize("opt, words", [
    ("attr_timeout=5", "attr_timeout"),
    ("entry_timeout=1", "entry_timeout"),
    ("negative_timeout=0", "negative_timeout"),
    ("kernel_cache", "kernel_cache"),
    ("auto_cache", "auto_cache"),
    ("direct_io", "direct_io"),
    ("hard_remove", "hard_remove"),
    ("use_ino", "use_ino"),
    ("no_such_option", "no_such_option"),
    ("cache_ttl=soon", "cache_ttl"),
    ("page_size=0", "page_size"),
    ("tenant=nosuch", "nosuch"),
    ("cache_ttl", "cache_ttl"),
    ("uid=root", "uid=root"),
    ("umask=9", "umask=9"),
])
def test_bad_options_fail_before_any_request(cli_emu, dynfs_bin, tmp_path, opt, words):
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    r = no_request(cli_emu, lambda: run_dynfs(
        dynfs_bin, ["-f", cli_emu.config_path, mnt, "-o", opt], timeout=30, mountpoint=mnt))
    assert r.returncode == 1 and not r.was_mounted, (r.returncode, r.stderr)
    assert words in r.stderr, r.stderr
    assert not r.sanitizer, r.stderr


def test_config_twice_and_too_many_operands(cli_emu, dynfs_bin, tmp_path):
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    r = run_dynfs(dynfs_bin, ["-f", "-c", cli_emu.config_path, cli_emu.config_path, mnt],
                  timeout=30, mountpoint=mnt)
    assert r.returncode == 1 and "given twice" in r.stderr, r.stderr
    r = run_dynfs(dynfs_bin, ["-f", cli_emu.config_path, mnt, mnt], timeout=30, mountpoint=mnt)
    assert r.returncode == 1 and "too many arguments" in r.stderr, r.stderr


def test_check_takes_the_config_as_operand(cli_emu, dynfs_bin):
    r = run_dynfs(dynfs_bin, ["--check", cli_emu.config_path], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "contoso: ok" in r.stdout and "fabrikam: ok" in r.stdout, r.stdout


# ---------------------------------------------------------------- mount(8) itself

HELPER_DIR = "/usr/local/sbin"      # on the shell's default PATH: mount(8) clears PATH


@contextlib.contextmanager
def dynfs_on_default_path(dynfs_bin):
    """Make `dynfs` runnable by mount.fuse3 (which runs it through /bin/sh with the default
    PATH, since mount(8) clears the environment's): a symbolic link in /usr/local/sbin for
    the duration, serialised between test runs by a lock, removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mount(8) of a FUSE type needs root here")
    if not shutil.which("mount.fuse3", path="/sbin:/usr/sbin"):
        pytest.skip("mount.fuse3 (package fuse3) is not installed")
    link = os.path.join(HELPER_DIR, "dynfs")
    with open("/run/lock/dynfs-mount-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.lexists(link) and not os.path.islink(link):
            pytest.skip("%s exists and is not ours" % link)
        os.makedirs(HELPER_DIR, exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.abspath(dynfs_bin), link)
        try:
            yield
        finally:
            os.unlink(link)


@contextlib.contextmanager
def daemon_mount(mnt, asan_dir):
    """Whatever mount(8) started on MNT is unmounted and gone afterwards, even on failure;
    the daemon's sanitizer reports (ASAN_OPTIONS log_path) are checked."""
    pid = None
    try:
        yield
    finally:
        if in_mountinfo(mnt):
            try:
                with open(os.path.join(mnt, ".status")) as f:
                    pid = json.load(f)["pid"]
            except (OSError, ValueError, KeyError):
                pid = None
            subprocess.run(["umount", mnt], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            if in_mountinfo(mnt):
                lazy_unmount(mnt)
        if pid:
            deadline = time.monotonic() + 20
            while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not os.path.exists("/proc/%d" % pid), "dynfs still running after umount"
    reports = []
    for name in os.listdir(asan_dir):
        with open(os.path.join(asan_dir, name), errors="replace") as f:
            reports += sanitizer_findings(f.read())
    assert not reports, "\n".join(reports[:40])


def run(argv, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=60, **kw)


def mounted_pid(mnt):
    with open(os.path.join(mnt, ".status")) as f:
        return json.load(f)["pid"]


def asan_env(tmp_path):
    d = tmp_path / "asan"
    d.mkdir()
    env = dict(os.environ)
    opts = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "log_path=%s/asan" % d
    return env, str(d)


def test_mount_command(cli_emu, dynfs_bin, tmp_path):
    """`mount -t fuse.dynfs CONFIG MNT -o ...` through the real mount(8) and mount.fuse3."""
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    env, asan_dir = asan_env(tmp_path)
    with dynfs_on_default_path(dynfs_bin), daemon_mount(mnt, asan_dir):
        r = run(["mount", "-t", "fuse.dynfs", cli_emu.config_path, mnt,
                 "-o", "allow_other,_netdev,nofail,cache_ttl=5"], env=env)
        assert r.returncode == 0, r.stdout.decode()
        assert in_mountinfo(mnt)
        assert mount_source(mnt) == (cli_emu.config_path, "fuse.dynfs")
        assert sorted(os.listdir(mnt)) == ["contoso", "fabrikam"]
        assert len(os.listdir(os.path.join(mnt, "contoso", "accounts"))) == 20
        with open(os.path.join(mnt, ".status")) as f:
            st = json.load(f)
        assert st["settings"]["cache_ttl"] == "5" and st["health"] == "ok", st
        pid = st["pid"]
        r = run(["umount", mnt])
        assert r.returncode == 0, r.stdout.decode()
        deadline = time.monotonic() + 20
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists("/proc/%d" % pid), "dynfs did not exit after umount"


def test_fstab(cli_emu, dynfs_bin, tmp_path):
    """`mount -a -T FSTAB`: the line mounts, a noauto line is left alone, a second
    `mount -a` finds it mounted."""
    mnt = str(tmp_path / "mnt")
    other = str(tmp_path / "other")
    os.mkdir(mnt)
    os.mkdir(other)
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "# dynfs\n"
        "%s %s fuse.dynfs _netdev,nofail,allow_other,cache_ttl=5,x-systemd.automount 0 0\n"
        "%s %s fuse.dynfs noauto,_netdev 0 0\n" % (cli_emu.config_path, mnt,
                                                    cli_emu.config_path, other))
    env, asan_dir = asan_env(tmp_path)
    with dynfs_on_default_path(dynfs_bin), daemon_mount(mnt, asan_dir):
        r = run(["mount", "-a", "-T", str(fstab)], env=env)
        assert r.returncode == 0, r.stdout.decode()
        assert in_mountinfo(mnt) and not in_mountinfo(other)
        assert sorted(os.listdir(mnt)) == ["contoso", "fabrikam"]
        r = run(["mount", "-a", "-T", str(fstab)], env=env)
        assert r.returncode == 0, r.stdout.decode()
        with open("/proc/self/mountinfo") as f:
            assert sum(1 for line in f if line.split()[4] == os.path.realpath(mnt)) == 1

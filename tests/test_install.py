"""Installing and documenting dynfs: `make install DESTDIR=... PREFIX=...` and `make
uninstall`, the man pages (mandoc -T lint and groff -ww clean), every option of --help in
dynfs(1) and the reverse, every [global] key in dynfs.ini(5), the README's way in: `./make.sh
demo` as root and as a user who has sudo, and what it says where FUSE cannot be used.
"""

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from lib.mount import run_dynfs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
        return f.read()


def make(*args, timeout=600):
    return subprocess.run(["make", "--no-print-directory", "-C", REPO] + list(args),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)


def sanitize_arg(dynfs_bin):
    """SANITIZE=... for the build DYNFS_BIN comes from, so that make installs it unrebuilt."""
    m = re.search(r"build/san-([a-z-]+)/dynfs$", os.path.abspath(dynfs_bin))
    return ["SANITIZE=" + m.group(1).replace("-", ",")] if m else []


def test_install_and_uninstall(dynfs_bin, tmp_path):
    dest = str(tmp_path / "root")
    args = ["DESTDIR=" + dest, "PREFIX=/usr"] + sanitize_arg(dynfs_bin)
    r = make("install", *args)
    assert r.returncode == 0, r.stdout.decode()
    want = ["usr/bin/dynfs", "usr/share/man/man1/dynfs.1", "usr/share/man/man5/dynfs.ini.5",
            "usr/share/doc/dynfs/dynfs.ini.example", "usr/share/doc/dynfs/fstab.example",
            "usr/share/doc/dynfs/dynfs.service", "usr/share/doc/dynfs/mnt-dyn.mount"]
    for w in want:
        assert os.path.isfile(os.path.join(dest, w)), w
    assert os.access(os.path.join(dest, "usr/bin/dynfs"), os.X_OK)
    with open(os.path.join(dest, "usr/share/doc/dynfs/dynfs.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/bin/dynfs -f " in unit and "Type=notify" in unit, unit
    v = run_dynfs(os.path.join(dest, "usr/bin/dynfs"), ["--version"])
    assert v.returncode == 0 and "dynfs version" in v.stdout
    r = make("uninstall", *args)
    assert r.returncode == 0, r.stdout.decode()
    left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
    assert left == [], left
    assert not os.path.exists(os.path.join(dest, "usr/share/doc/dynfs"))


@pytest.mark.parametrize("page", ["man/dynfs.1", "man/dynfs.ini.5"])
def test_man_pages_are_clean(page):
    path = os.path.join(REPO, page)
    if not shutil.which("mandoc"):
        pytest.fail("mandoc is not installed (.ci/deps installs it)")
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout.decode()
    r = subprocess.run(["groff", "-man", "-z", "-ww", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout.decode()


OPT_RE = re.compile(r"-o [a-z_]+|--[a-z-]+|-[a-zA-Z]\b")


def options_in(lines):
    """The options named in the option column of LINES."""
    found = set()
    for line in lines:
        col = re.split(r"\s{2,}", line.strip())[0]
        found.update(m.group(0) for m in OPT_RE.finditer(col))
    return found


def help_options(dynfs_bin):
    r = run_dynfs(dynfs_bin, ["--help"])
    assert r.returncode == 0
    return options_in(l for l in r.stdout.splitlines() if re.match(r"    -", l))


def man_options():
    text = subprocess.run(["mandoc", "-T", "ascii", os.path.join(REPO, "man/dynfs.1")],
                          stdout=subprocess.PIPE, check=True, timeout=60).stdout.decode()
    text = re.sub(r".\x08", "", text)
    section = re.search(r"\nOPTIONS\n(.*?)\n[A-Z][A-Z ]+\n", text, re.S).group(1)
    return options_in(l for l in section.splitlines() if re.match(r" {7}-", l))


def test_help_and_man_page_list_the_same_options(dynfs_bin):
    if not shutil.which("mandoc"):
        pytest.fail("mandoc is not installed (.ci/deps installs it)")
    h, m = help_options(dynfs_bin), man_options()
    assert {"-c", "-f", "-d", "-s", "-v", "--check", "-o ro", "-o allow_other", "-o uid",
            "-o gid", "-o umask", "-o auto_unmount", "-o tenant", "-o cache_ttl"} <= h, h
    assert h - m == set(), "in --help, not in dynfs(1): %s" % sorted(h - m)
    assert m - h == set(), "in dynfs(1), not in --help: %s" % sorted(m - h)


def test_every_global_key_is_an_option_and_documented(dynfs_bin):
    h = help_options(dynfs_bin)
    example = read("dynfs.ini.example")
    keys = re.findall(r"^(\w+) = ", example.split("\n[global]\n")[1].split("\n[contoso]\n")[0],
                      re.M)
    page = read("man/dynfs.ini.5")
    assert keys, "no [global] keys found in dynfs.ini.example"
    for k in keys:
        assert "-o " + k in h, k
        assert re.search(r"^\.BR %s " % k, page, re.M), "%s not in dynfs.ini(5)" % k


def test_every_tenant_key_in_dynfs_ini_5():
    example = read("dynfs.ini.example").split("\n[contoso]\n")[1].split("every flow")[0]
    keys = set(re.findall(r"^;?(\w+) =", example, re.M))
    page = read("man/dynfs.ini.5")
    assert len(keys) > 20, keys
    for k in keys:
        assert re.search(r"^\.BR?\s.*\b%s\b" % k, page, re.M), "%s not in dynfs.ini(5)" % k


def test_readme_connect_your_tenant():
    readme = read("README.md")
    section = readme.split("## Connect your tenant", 1)[1].split("\n## ", 1)[0]
    for words in ("App registrations", "client secret", "certificate", "Application users",
                  "security role", "consent", "Allow public client flows", "redirect URI",
                  "tenant_id", "client_id", "auth =", "TROUBLESHOOTING.md"):
        assert words in section, words
    assert "AADSTS7000218" in read("TROUBLESHOOTING.md")
    row = [l for l in read("TROUBLESHOOTING.md").splitlines() if "AADSTS7000218" in l][0]
    assert "Allow public client flows" in row, row


def test_make_sh_installs_then_runs_make():
    """./make.sh is plain sh: .ci/deps (nothing to install here), then make."""
    r = subprocess.run(["sh", os.path.join(REPO, "make.sh"), "-n", "help"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode()


def test_demo_says_when_fuse_is_missing(tmp_path):
    """In a container without /dev/fuse the demo stops with what to do, not a libfuse error.
    A private mount namespace with an empty /dev stands for such a container."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) to hide /dev/fuse")
    script = ("mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && "
              "exec bash %s" % os.path.join(REPO, "tests", "demo.sh"))
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path), DYNFS_DEMO_MNT=str(tmp_path / "mnt"),
               DYNFS_CONFIG=str(tmp_path / "none.ini"))
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300, env=env)
    out = r.stdout.decode()
    assert r.returncode != 0, out
    assert "FUSE is not available here" in out and "--device /dev/fuse" in out, out


# --------------------------------------------------------------------------- a user with sudo

def _kill_user_processes(uid):
    """SIGKILL every process of UID (a throwaway user: the test started them all), by pid."""
    for _ in range(50):
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.stat("/proc/" + d).st_uid == uid:
                        pids.append(int(d))
                except OSError:
                    pass
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        time.sleep(0.1)


@pytest.fixture
def sudo_user():
    """A throwaway user with passwordless sudo and a copy of the repository (without its
    builds) in its home.  Removed afterwards, even on failure: its processes, the user and
    its home, its sudoers file, its demo folder."""
    for tool in ("useradd", "userdel", "sudo", "visudo", "unshare", "fusermount3"):
        if not shutil.which(tool):
            pytest.fail("%s is missing (.ci/deps installs it)" % tool)
    if os.geteuid() != 0:
        pytest.skip("creating a user needs root")
    name = "dynfs-t%d" % os.getpid()
    top = tempfile.mkdtemp(prefix="dynfs-user-", dir="/tmp")
    os.chmod(top, 0o755)
    home = os.path.join(top, "home")
    sudoers = "/etc/sudoers.d/dynfs-test-%s" % name
    uid = None
    try:
        subprocess.run(["useradd", "-m", "-d", home, "-s", "/bin/bash", name], check=True,
                       timeout=60)
        uid = pwd.getpwnam(name).pw_uid
        with open(sudoers, "w") as f:
            f.write("%s ALL=(ALL) NOPASSWD: ALL\n" % name)
        os.chmod(sudoers, 0o440)
        subprocess.run(["visudo", "-cf", sudoers], check=True, stdout=subprocess.DEVNULL,
                       timeout=60)
        copy = os.path.join(home, "dynfs")
        os.mkdir(copy)
        subprocess.run("tar -C %s --exclude=./build --exclude=./.git --exclude=./dynfs -cf - . | tar -C %s -xf -"
                       % (REPO, copy), shell=True, check=True, timeout=120)
        subprocess.run(["chown", "-R", "%s:" % name, home], check=True, timeout=60)
        yield name, uid, copy
    finally:
        if uid is not None:
            _kill_user_processes(uid)
        subprocess.run(["userdel", "-r", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        if os.path.exists(sudoers):
            os.unlink(sudoers)
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree("/tmp/dynfs-demo-" + name, ignore_errors=True)


# Run as root in a private mount namespace: /dev/fuse is replaced by a node of mode $1
# (Debian's is 0666; a hardened or container one may be 0600) on a tmpfs of our own, then
# the demo runs as the user, as README says: ./make.sh demo, look, ./make.sh demo-stop.
DEMO_AS_USER = r"""
set -u
mode=$1 user=$2 copy=$3 out=$4
mnt=/tmp/dynfs-demo-$user/mnt
dev=$(mktemp -d)
mount -t tmpfs -o mode=0755 none "$dev"
mknod -m "$mode" "$dev/fuse" c 10 229
mount --bind "$dev/fuse" /dev/fuse
as_user() { sudo -u "$user" -H bash -c "cd '$copy' && $1"; }
as_user "sudo -n true" >"$out/sudo.out" 2>&1; echo $? >"$out/sudo.rc"
as_user "./make.sh demo" >"$out/demo.out" 2>&1; echo $? >"$out/demo.rc"
awk -v d="$mnt" '$5 == d' /proc/self/mountinfo >"$out/mounted"
as_user "ls '$mnt'; stat -c %U '$mnt/contoso'" >"$out/ls.out" 2>&1
as_user "./make.sh demo-stop" >"$out/stop.out" 2>&1; echo $? >"$out/stop.rc"
awk -v d="$mnt" '$5 == d' /proc/self/mountinfo >"$out/after"
if [ "$(cat "$out/demo.rc")" = 0 ]; then
	# README's other command, on one module of the suite (the whole takes too long here)
	as_user "./make.sh check PYTEST_ARGS='-p no:cacheprovider -k \"test_refused and not test_logging\"'" \
		>"$out/check.out" 2>&1
	echo $? >"$out/check.rc"
fi
"""


def demo_as_user(sudo_user, mode, tmp_path):
    name, uid, copy = sudo_user
    out = tmp_path / ("out-%s" % mode)
    out.mkdir()
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c",
                        DEMO_AS_USER, "demo", mode, name, copy, str(out)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=900)
    assert r.returncode == 0, r.stdout.decode()
    res = {f.name: f.read_text() for f in out.iterdir()}
    assert res["sudo.rc"].strip() == "0", "the user has no sudo: " + res["sudo.out"]
    return res


def test_demo_as_a_user_with_sudo(sudo_user, tmp_path):
    """README's `./make.sh demo` as a user who is not root but may use sudo: built in the
    user's copy, mounted through the setuid fusermount3, owned by the user, stopped by
    `./make.sh demo-stop` with nothing left mounted; then `./make.sh check` on one module."""
    name, uid, _ = sudo_user
    res = demo_as_user(sudo_user, "666", tmp_path)
    mnt = "/tmp/dynfs-demo-%s/mnt" % name
    assert res["demo.rc"].strip() == "0", res["demo.out"]
    assert "dynfs is mounted on %s" % mnt in res["demo.out"], res["demo.out"]
    assert " - fuse.dynfs " in res["mounted"] and "user_id=%d," % uid in res["mounted"], \
        res["mounted"] + res["demo.out"]
    assert res["ls.out"].split() == ["contoso", name], res["ls.out"]
    assert res["stop.rc"].strip() == "0", res["stop.out"]
    assert res["after"] == "", "still mounted after demo-stop: " + res["after"]
    # ./make.sh check as the user: the unit tests and the mounts of test_refused.py
    assert res["check.rc"].strip() == "0", res["check.out"][-3000:]
    assert re.search(r"^\d+ passed, \d+ deselected", res["check.out"], re.M), \
        res["check.out"][-3000:]


def test_demo_as_a_user_says_when_fuse_is_closed_to_it(sudo_user, tmp_path):
    """/dev/fuse of mode 0600: libfuse cannot open it as the user, so the demo says so and
    what to do, before building or mounting anything."""
    name, _, copy = sudo_user
    res = demo_as_user(sudo_user, "600", tmp_path)
    assert res["demo.rc"].strip() != "0", res["demo.out"]
    assert "/dev/fuse cannot be opened by %s" % name in res["demo.out"], res["demo.out"]
    assert "mode 0666" in res["demo.out"], res["demo.out"]
    assert res["mounted"] == ""
    assert not os.path.exists(os.path.join(copy, "dynfs")), "the demo built before saying so"

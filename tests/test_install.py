"""Installing and documenting dynfs: `make install DESTDIR=... PREFIX=...` and `make
uninstall`, the man pages (mandoc -T lint and groff -ww clean), every option of --help in
dynfs(1) and the reverse, every [global] key in dynfs.ini(5), the README's way in.
"""

import os
import re
import shutil
import subprocess

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

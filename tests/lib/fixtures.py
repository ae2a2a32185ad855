"""pytest fixture factories: an emulator (+ options), a dynfs mount on it, per-test mounts.

Every test module gets its emulators and mounts from here::

    from lib.fixtures import emulator_fixture, mount_fixture

    edit_emu = emulator_fixture(orgs="contoso", records={"accounts": 60, "contacts": 5}, seed=17)
    emnt = mount_fixture("edit_emu", state_home=True)
    dmnt = mount_fixture("edit_emu", ini={"global": {"cache_ttl": 1}})

- emulator_fixture(scope="module", setup=None, **options): a fixture whose value is a
  running lib.emuproc.Emulator(**options) (timeout defaults to 120 s); SETUP(emu) runs once
  after the start.  The emulator is stopped at teardown whatever happens.
- mount_fixture(emulator, ini=None, state_home=False, env=None, extra_args=(),
  scope="module"): a fixture whose value is a lib.mount.Mount of dynfs on the emulator
  fixture named EMULATOR, with that emulator's own dynfs.ini, changed by INI ({section:
  {key: value}}, written next to the module's other files).  state_home=True points
  XDG_STATE_HOME at the `state_home` fixture (the conftest's: a directory per module).  The
  mount is stopped at teardown, and its daemon must then exit 0 with no sanitizer report
  in its log except lines matching the module's DYNFS_LOG_ALLOW regexes.
- MountFactory: the mounts of one test (the conftest's `mount_factory` fixture).

A fixture's name is the name it is assigned to; its daemon log is <module>-<name>.log in
the session's log directory.  The fixture names used in tests/ are listed in conftest.py.
"""

import os

import pytest

from lib.emuproc import Emulator
from lib.mount import Ini, MountError, new_mount


def emulator_fixture(scope="module", setup=None, **options):
    """A fixture: Emulator(**options) started (and SETUP(emu) run), stopped at teardown."""
    options.setdefault("timeout", 120)

    @pytest.fixture(scope=scope)
    def emulator_fixture():
        with Emulator(**options) as e:
            if setup is not None:
                setup(e)
            yield e

    emulator_fixture.__doc__ = "An emulator: %s." % ", ".join(
        "%s=%r" % kv for kv in sorted(options.items()))
    return emulator_fixture


def start_mount(dynfs_bin, logdir, workdir, label, emu, config, extra_args=(), env=None,
                allow=(), expect_status=0, source_form=False):
    """A started Mount of dynfs on CONFIG whose log is LOGDIR/<label>.log; it remembers the
    emulator, the allowed log lines and the exit status required at stop.  source_form: run
    `dynfs -f ARGS CONFIG MNT` (mount(8)'s form) instead of `-c CONFIG`."""
    m = new_mount(dynfs_bin, logdir, workdir, label)
    m.emu = emu
    m.allow = tuple(allow)
    m.expect_status = expect_status
    m.start(config, extra_args=extra_args, env=env, source_form=source_form)
    return m


def mount_fixture(emulator, ini=None, state_home=False, env=None, extra_args=(), scope="module"):
    """A fixture: dynfs mounted on the emulator fixture named EMULATOR (see the module doc)."""

    @pytest.fixture(scope=scope)
    def mount_fixture(request, dynfs_bin, logdir, module_workdir):
        emu = request.getfixturevalue(emulator)
        name = request.fixturename
        config = emu.config_path
        if ini:
            cfg = Ini.load(config)
            for section, keys in ini.items():
                cfg[section].update({k: str(v) for k, v in keys.items()})
            config = cfg.write(os.path.join(module_workdir, "%s.ini" % name))
        full_env = dict(env or {})
        if state_home:
            full_env["XDG_STATE_HOME"] = request.getfixturevalue("state_home")
        m = start_mount(dynfs_bin, logdir, module_workdir,
                        "%s-%s" % (request.module.__name__, name), emu, config,
                        extra_args=extra_args, env=full_env or None,
                        allow=getattr(request.module, "DYNFS_LOG_ALLOW", ()))
        try:
            yield m
        finally:
            m.stop(expect_status=m.expect_status, allow=m.allow)

    mount_fixture.__doc__ = "dynfs mounted on `%s`%s." % (
        emulator, " with %r" % (ini,) if ini else " with its own dynfs.ini")
    return mount_fixture


class MountFactory:
    """Mounts for one test; all are stopped at teardown (daemon must exit 0)."""

    def __init__(self, dynfs_bin, logdir, workdir, label):
        self.dynfs_bin = dynfs_bin
        self.logdir = logdir
        self.workdir = workdir
        self.label = label
        self.mounts = []

    def __call__(self, config, extra_args=(), env=None, emu=None, allow=(), expect_status=0,
                 source_form=False):
        """Start dynfs on CONFIG.  allow: regexes of log lines that are not sanitizer findings;
        expect_status: exit status required at unmount (None: any); source_form: mount(8)'s
        `dynfs CONFIG MNT` instead of `-c CONFIG`."""
        m = start_mount(self.dynfs_bin, self.logdir, self.workdir,
                        "%s-%d" % (self.label, len(self.mounts)), emu, config,
                        extra_args=extra_args, env=env, allow=allow, expect_status=expect_status,
                        source_form=source_form)
        self.mounts.append(m)
        return m

    def stop_all(self):
        errors = []
        for m in self.mounts:
            try:
                m.stop(expect_status=m.expect_status, allow=m.allow)
            except MountError as e:
                errors.append(str(e))
        return errors


def faults_cleared(emulator):
    """An autouse fixture: the emulator fixture named EMULATOR has no faults and no fault
    rules before and after each test of the module."""

    @pytest.fixture(autouse=True)
    def faults_cleared(request):
        emu = request.getfixturevalue(emulator)
        emu.clear_faults()
        yield
        emu.clear_faults()

    return faults_cleared


def fresh_records(emulator, org, es, pk, plain=False):
    """A fixture whose each use is the id of another sample record of ORG's ES in the
    emulator fixture named EMULATOR: one no other test of the module touched.  PLAIN keeps
    active records whose name needs no JSON escaping (for tests that edit it with sed)."""

    @pytest.fixture(scope="module")
    def ids(request):
        recs = request.getfixturevalue(emulator).records(org, es)
        if plain:
            recs = [r for r in recs if isinstance(r.get("name"), str) and '"' not in r["name"]
                    and "\\" not in r["name"] and r.get("statecode") == 0]
        return iter([r[pk] for r in recs])

    return ids

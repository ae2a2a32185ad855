# Makefile - dynfs (plain GNU make + pkg-config).  `make help` lists targets and knobs.

PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/dynfs
PKGS := fuse3 libcurl libcjson inih libcrypto

# CI sets CI=true; there warnings are errors unless WERROR=0 is given.
ifeq ($(origin WERROR),undefined)
ifneq ($(CI),)
WERROR := 1
endif
endif

CFLAGS ?= -O2 -g
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# FUSE and libcurl callbacks take parameters they do not all use, hence
# -Wno-unused-parameter (as libfuse's own build does).
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
	-Wmissing-prototypes -Wstrict-prototypes -Wshadow -Wformat=2 -MMD -MP -DFUSE_USE_VERSION=31 -D_FILE_OFFSET_BITS=64 \
	-Iinclude -pthread $(PKG_CFLAGS)
override LDFLAGS += -pthread
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif

# SANITIZE=address,undefined builds into its own directory, so switching back
# and forth never mixes objects; the binary is then $(OBJDIR)/dynfs.
comma := ,
SANITIZERS := address undefined leak thread
ifneq ($(SANITIZE),)
ifneq ($(filter-out $(SANITIZERS),$(subst $(comma), ,$(SANITIZE))),)
$(error SANITIZE=$(SANITIZE): expected a comma-separated list of $(SANITIZERS))
endif
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=$(SANITIZE)
OBJDIR := build/san-$(subst $(comma),-,$(SANITIZE))
BIN := $(OBJDIR)/dynfs
UNITDIR := $(OBJDIR)/tests/unit
CHECK_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
OBJDIR := build/obj
BIN := dynfs
UNITDIR := tests/unit
CHECK_ENV :=
endif

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif

SRCS := $(wildcard fs/*.c)
OBJS := $(SRCS:%.c=$(OBJDIR)/%.o)

# Unit tests: tests/unit/test_NAME.c links the fs/ sources listed in
# UNIT_test_NAME and the pkg-config packages in UNIT_test_NAME_PKGS (default:
# every fs/ source but main.c, and every package).  UNIT_JSON is the JSON
# layer, which most of them link.
UNIT_JSON := fs/json.c fs/json_render.c fs/json_value.c fs/buf.c fs/util.c
UNIT_test_json := $(UNIT_JSON) fs/record.c
UNIT_test_json_PKGS := libcjson
UNIT_test_config := fs/state.c fs/config.c fs/config_keys.c fs/config_url.c fs/log.c fs/secret.c fs/state.c fs/util.c
UNIT_test_config_PKGS := inih libcurl
UNIT_test_schema := fs/schema.c fs/schema_body.c $(UNIT_JSON)
UNIT_test_schema_PKGS := libcjson
UNIT_test_metadata := fs/metadata.c fs/schema.c $(UNIT_JSON) fs/log.c fs/http.c fs/http_failure.c \
	fs/retry.c fs/tls.c
UNIT_test_metadata_PKGS := libcjson libcurl
UNIT_test_util := fs/util.c fs/log.c
UNIT_test_util_PKGS := libcjson
UNIT_test_draft := fs/draft.c fs/buf.c fs/util.c
UNIT_test_draft_PKGS := libcjson
UNIT_test_jsonsplit := fs/jsonsplit.c fs/buf.c
UNIT_test_jsonsplit_PKGS := libcjson
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_NAMES := $(notdir $(UNIT_SRCS:.c=))
UNIT_BINS := $(addprefix $(UNITDIR)/,$(UNIT_NAMES))
unit_srcs = $(or $(UNIT_$(1)),$(filter-out fs/main.c,$(SRCS)))
unit_libs = $(if $(UNIT_$(1)_PKGS),$(shell $(PKG_CONFIG) --libs $(UNIT_$(1)_PKGS)),$(PKG_LIBS))

# Rebuild everything when the compiler or flags change (e.g. WERROR=1).
SETTINGS := $(OBJDIR)/.settings
SETTINGS_TEXT := $(CC) $(CFLAGS) $(CPPFLAGS) | $(LDFLAGS) $(LDLIBS)
ifeq ($(filter check clean help deps demo demo-stop uninstall,$(MAKECMDGOALS)),)
ifneq ($(file <$(SETTINGS)),$(SETTINGS_TEXT))
$(shell mkdir -p $(OBJDIR))
$(file >$(SETTINGS),$(SETTINGS_TEXT))
endif
endif

.PHONY: all check check-nodeps soak bench bench-rss bench-restore unit fuzz valgrind deps demo demo-stop install uninstall clean help pkgcheck
.DEFAULT_GOAL := all

all: $(BIN)

$(BIN): $(OBJS)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS) $(LDLIBS)

$(OBJDIR)/%.o: %.c $(SETTINGS) | pkgcheck
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

# Each unit test binary depends on its own object plus the fs/ objects it names.
define unit_rule
$(UNITDIR)/$(1): $(OBJDIR)/tests/unit/$(1).o $(patsubst %.c,$(OBJDIR)/%.o,$(call unit_srcs,$(1)))
	@mkdir -p $$(@D)
	$$(call say,LINK,$$@)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(call unit_libs,$(1)) $$(LDLIBS)
endef
$(foreach t,$(UNIT_NAMES),$(eval $(call unit_rule,$(t))))

$(SETTINGS):
	@mkdir -p $(@D)
	@printf '%s\n' '$(subst ','\'',$(SETTINGS_TEXT))' > $@

# A missing -dev package otherwise shows up as a confusing missing header.
pkgcheck:
	@$(PKG_CONFIG) --exists $(PKGS) 2>/dev/null || { \
		echo "dynfs: missing build dependencies (pkg-config: $(PKGS));" \
		     "run 'make deps' (or .ci/deps) to install them" >&2; exit 1; }

# Each fuzz target, linked with tests/unit/replay.c instead of libFuzzer, runs
# over its committed corpus (seeds and the crashes found before) in make unit.
REPLAY_NAMES := $(patsubst tests/unit/fuzz_%.c,%,$(wildcard tests/unit/fuzz_*.c))
REPLAY_BINS := $(REPLAY_NAMES:%=$(UNITDIR)/replay_%)
$(UNITDIR)/replay_%: $(OBJDIR)/tests/unit/fuzz_%.o $(OBJDIR)/tests/unit/replay.o \
		$(filter-out $(OBJDIR)/fs/main.o,$(OBJS))
	@mkdir -p $(@D)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm $(LDLIBS)

.SECONDARY: $(REPLAY_NAMES:%=$(OBJDIR)/tests/unit/fuzz_%.o) $(OBJDIR)/tests/unit/replay.o

unit: $(UNIT_BINS) $(REPLAY_BINS)
	@set -e; for t in $(UNIT_BINS); do \
		echo "== $$t"; $(CHECK_ENV) ./$$t; \
	done; \
	for t in $(REPLAY_NAMES); do \
		echo "== $(UNITDIR)/replay_$$t"; \
		$(CHECK_ENV) ./$(UNITDIR)/replay_$$t tests/unit/corpus/$$t/*; \
	done

# make fuzz: every tests/unit/fuzz_NAME.c is a libFuzzer target, linked with
# the fs/ objects (all but main.c) built once more by clang with the fuzzer,
# address and undefined sanitizers into $(FUZZ_DIR)/obj.  Each runs for
# FUZZ_SECONDS from its committed seeds, tests/unit/corpus/NAME/ (only read),
# with tests/unit/corpus/NAME.dict when there is one; new inputs go to
# $(FUZZ_DIR)/NAME/corpus, a crashing one to $(FUZZ_DIR)/NAME/crash-*.
# FUZZ=names,page runs only those.  Not part of check: it needs clang.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR := build/fuzz
FUZZ_NAMES := $(patsubst tests/unit/fuzz_%.c,%,$(wildcard tests/unit/fuzz_*.c))
FUZZ ?= $(FUZZ_NAMES)
FUZZ_RUN := $(subst $(comma), ,$(FUZZ))
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DFUSE_USE_VERSION=31 -D_FILE_OFFSET_BITS=64 \
	-Wall -Wextra -Wno-unused-parameter -Wshadow -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-Iinclude -pthread $(PKG_CFLAGS)
FUZZ_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(filter-out fs/main.c,$(SRCS)))

$(FUZZ_DIR)/obj/%.o: %.c | pkgcheck fuzzcc
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/unit/fuzz_%.o $(FUZZ_OBJS)
	$(call say,FUZZLD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

.PHONY: fuzzcc fuzz-build
fuzzcc:
	@command -v $(FUZZ_CC) >/dev/null || { \
		echo "dynfs: make fuzz needs $(FUZZ_CC) and libFuzzer; run 'make deps'" >&2; exit 1; }

.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_DIR)/obj/tests/unit/fuzz_%.o)

fuzz-build: $(FUZZ_RUN:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_RUN); do \
		mkdir -p $(FUZZ_DIR)/$$t/corpus; \
		dict=tests/unit/corpus/$$t.dict; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
		UBSAN_OPTIONS=print_stacktrace=1 ./$(FUZZ_DIR)/fuzz_$$t \
			-max_total_time=$(FUZZ_SECONDS) -timeout=20 \
			$$(test -f $$dict && echo -dict=$$dict) \
			-artifact_prefix=$(FUZZ_DIR)/$$t/ -print_final_stats=1 \
			$(FUZZ_DIR)/$$t/corpus tests/unit/corpus/$$t \
			> $(FUZZ_DIR)/$$t.log 2>&1 || { tail -n 60 $(FUZZ_DIR)/$$t.log; \
			echo "fuzz_$$t failed: input in $(FUZZ_DIR)/$$t/, log $(FUZZ_DIR)/$$t.log" >&2; \
			exit 1; }; \
		grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_DIR)/$$t.log || true; \
	done

# make valgrind: the read, edit and save mount tests with every dynfs under valgrind's
# memcheck (tests/lib/mount.py puts $$DYNFS_WRAPPER before each dynfs it runs),
# one log per process in $(VG_DIR).  It fails when a test fails, or when a log
# shows an error or a definite leak, or no summary (the process was killed).
VG_TESTS ?= tests/test_content.py tests/test_edit.py tests/test_save_outcome.py
VG_DIR := build/valgrind
VALGRIND := valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=40 \
	--log-file=$(abspath $(VG_DIR))/vg.%p.log

valgrind: $(BIN)
ifneq ($(SANITIZE),)
	$(error make valgrind wants the plain build: run it without SANITIZE)
endif
	@command -v valgrind >/dev/null || { \
		echo "dynfs: make valgrind needs valgrind; run 'make deps'" >&2; exit 1; }
	@rm -rf $(VG_DIR) && mkdir -p $(VG_DIR)
	@rc=0; DYNFS_BIN=$(abspath $(BIN)) DYNFS_WRAPPER="$(VALGRIND)" \
		$(PYTHON) -m pytest -q $(VG_TESTS) $(PYTEST_ARGS) || rc=$$?; \
	n=0; bad=0; for f in $(VG_DIR)/vg.*.log; do \
		test -e "$$f" || continue; n=$$((n + 1)); \
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$$f" || grep -q 'definitely lost: [1-9]' "$$f"; then \
			bad=$$((bad + 1)); echo "=== $$f"; cat "$$f"; fi; \
	done; \
	echo "valgrind: $$n dynfs processes, $$bad with errors, definite leaks or no summary (logs in $(VG_DIR))"; \
	test $$rc -eq 0 && test $$n -gt 0 && test $$bad -eq 0

# check installs missing packages first, then builds in a fresh make (whose
# pkg-config flags see them).
check:
	@bash .ci/deps
	@$(MAKE) --no-print-directory check-nodeps

check-nodeps: $(BIN) unit
	$(CHECK_ENV) DYNFS_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q tests/ $(PYTEST_ARGS)

# The soaks of make check for ten minutes each: tokens (tests/test_auth_soak.py) and
# saves under faults (tests/test_save_soak.py, whose summary -rP prints).
soak: $(BIN)
	$(CHECK_ENV) DYNFS_BIN=$(abspath $(BIN)) DYNFS_SOAK_SECONDS=600 $(PYTHON) -m pytest -q -rP \
		tests/test_auth_soak.py tests/test_save_soak.py $(PYTEST_ARGS)

# Back up N emulated accounts with dynfs + rsync, a DynamicsWebApi export and one GET per
# record; R rounds; results in tests/bench/results.md and results.png (tests/bench/README.md).
N ?= 20000
R ?= 3
bench: $(BIN)
	DYNFS_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench.py --n $(N) --rounds $(R)

# The memory bound alone: peak RSS copying RSS_N records with cache_size = CACHE.
CACHE ?= 64M
RSS_N ?= 100000,200000
bench-rss: $(BIN)
	DYNFS_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench.py --rss $(CACHE) --n $(RSS_N) --rounds 1

# Restore N (10000) emulated accounts at 50 ms a request, one writer and 8
# (tests/bench/restore.py); not part of check.
bench-restore: $(BIN)
	DYNFS_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/restore.py --n $(or $(RN),10000)

deps:
	bash .ci/deps

demo:
	bash tests/demo.sh

demo-stop:
	bash tests/demo.sh stop

# The examples for a system mount (fstab, a .mount unit) and a systemd --user
# service go to DOCDIR with the example configuration; the service names the
# installed binary.
DOC_FILES := dynfs.ini.example dist/fstab.example dist/systemd/mnt-dyn.mount

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DOCDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/dynfs
	install -m 644 man/dynfs.1 $(DESTDIR)$(MANDIR)/man1/dynfs.1
	install -m 644 man/dynfs.ini.5 $(DESTDIR)$(MANDIR)/man5/dynfs.ini.5
	install -m 644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/
	sed 's|@BINDIR@|$(BINDIR)|g' dist/systemd/dynfs.service > $(DESTDIR)$(DOCDIR)/dynfs.service
	chmod 644 $(DESTDIR)$(DOCDIR)/dynfs.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dynfs $(DESTDIR)$(MANDIR)/man1/dynfs.1 \
		$(DESTDIR)$(MANDIR)/man5/dynfs.ini.5 $(DESTDIR)$(DOCDIR)/dynfs.service \
		$(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOC_FILES)))
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -rf build dynfs $(addprefix tests/unit/,$(UNIT_NAMES)) $(REPLAY_NAMES:%=tests/unit/replay_%) .pytest_cache
	find tests -name __pycache__ -type d -prune -exec rm -rf {} +

help:
	@echo 'Targets:'
	@echo '  all (default)  build ./dynfs'
	@echo '  check          install missing packages (.ci/deps), build, run the unit tests'
	@echo '                 (tests/unit) and the pytest suite (tests/)'
	@echo '  check-nodeps   check without the package step'
	@echo '  unit           build and run the unit tests only, and each fuzz target'
	@echo '                 over its committed corpus (gcc, no libFuzzer)'
	@echo '  fuzz           run each libFuzzer target (clang) for FUZZ_SECONDS from its'
	@echo '                 seeds in tests/unit/corpus/NAME: json (parser, renderers),'
	@echo '                 config (INI loader), names (record, local and alias names),'
	@echo '                 token (token answers, token store), page (pages split as'
	@echo '                 they arrive, links), diff (write bodies); crashes in build/fuzz'
	@echo '  valgrind       the read, edit and save mount tests (VG_TESTS) with dynfs under'
	@echo '                 valgrind memcheck; fails on any error or definite leak'
	@echo '  soak           ten minutes of 5-second tokens under parallel reads, and ten'
	@echo '                 of edits and creates while the emulator spoils writes'
	@echo '  bench          back up N=20000 emulated accounts (N=, R= rounds): dynfs vs an export'
	@echo '  bench-rss      peak RSS of dynfs copying RSS_N=100000,200000 records, cache_size=CACHE (64M)'
	@echo '  bench-restore  restore RN=10000 emulated accounts: one writer vs 8'
	@echo '  deps           install missing Debian packages (.ci/deps)'
	@echo '  demo           mount an emulated tenant (or your own config) on /tmp/dynfs-demo/mnt'
	@echo '  demo-stop      unmount the demo and stop its emulator'
	@echo '  install        install dynfs, dynfs(1), dynfs.ini(5), and in DOCDIR the example'
	@echo '                 config, fstab line and systemd units, under PREFIX ($(PREFIX))'
	@echo '  uninstall      remove what install installed'
	@echo '  clean          remove everything the build made'
	@echo 'Knobs:'
	@echo '  CFLAGS=...     optimisation/debug flags (default -O2 -g); warnings are always on'
	@echo '  WERROR=1       warnings are errors (default when CI is set)'
	@echo '  SANITIZE=address,undefined'
	@echo '                 sanitizer build in build/san-*/ (check runs pytest against it)'
	@echo '  V=1            show full commands'
	@echo '  FUZZ_SECONDS=60 FUZZ=json,page'
	@echo '                 how long make fuzz runs each target, and which (default: all;'
	@echo '                 FUZZ_CC=clang: the compiler)'
	@echo '  PYTEST_ARGS=   extra pytest arguments, e.g. PYTEST_ARGS="-k paging -x"'
	@echo '  PREFIX, DESTDIR, BINDIR, MANDIR, DOCDIR  install locations'

-include $(OBJS:.o=.d) $(UNIT_NAMES:%=$(OBJDIR)/tests/unit/%.d) $(REPLAY_NAMES:%=$(OBJDIR)/tests/unit/fuzz_%.d) $(wildcard $(FUZZ_DIR)/obj/fs/*.d $(FUZZ_DIR)/obj/tests/unit/*.d)

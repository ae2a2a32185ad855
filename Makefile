# Makefile - dynfs (plain GNU make + pkg-config).  `make help` lists targets and knobs.

PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
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
# every fs/ source but main.c, and every package).
UNIT_test_json := fs/json.c fs/record.c fs/buf.c fs/util.c
UNIT_test_json_PKGS := libcjson
UNIT_test_config := fs/config.c fs/config_keys.c fs/log.c fs/secret.c fs/state.c fs/util.c
UNIT_test_config_PKGS := inih
UNIT_test_schema := fs/schema.c fs/json.c fs/buf.c fs/log.c fs/http.c fs/util.c
UNIT_test_schema_PKGS := libcjson libcurl
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

.PHONY: all check check-nodeps soak unit deps demo demo-stop install uninstall clean help pkgcheck
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

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do \
		echo "== $$t"; $(CHECK_ENV) ./$$t; \
	done

# check installs missing packages first, then builds in a fresh make (whose
# pkg-config flags see them).
check:
	@bash .ci/deps
	@$(MAKE) --no-print-directory check-nodeps

check-nodeps: $(BIN) unit
	$(CHECK_ENV) DYNFS_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q tests/ $(PYTEST_ARGS)

# The token soak of make check for ten minutes (tests/test_auth_soak.py).
soak: $(BIN)
	$(CHECK_ENV) DYNFS_BIN=$(abspath $(BIN)) DYNFS_SOAK_SECONDS=600 $(PYTHON) -m pytest -q \
		tests/test_auth_soak.py $(PYTEST_ARGS)

deps:
	bash .ci/deps

demo:
	bash tests/demo.sh

demo-stop:
	bash tests/demo.sh stop

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/dynfs
	install -m 644 man/dynfs.1 $(DESTDIR)$(MANDIR)/man1/dynfs.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dynfs $(DESTDIR)$(MANDIR)/man1/dynfs.1

clean:
	rm -rf build dynfs $(addprefix tests/unit/,$(UNIT_NAMES)) .pytest_cache
	find tests -name __pycache__ -type d -prune -exec rm -rf {} +

help:
	@echo 'Targets:'
	@echo '  all (default)  build ./dynfs'
	@echo '  check          install missing packages (.ci/deps), build, run the unit tests'
	@echo '                 (tests/unit) and the pytest suite (tests/)'
	@echo '  check-nodeps   check without the package step'
	@echo '  unit           build and run the unit tests only'
	@echo '  soak           ten minutes of 5-second tokens under parallel reads'
	@echo '  deps           install missing Debian packages (.ci/deps)'
	@echo '  demo           mount an emulated tenant (or your own config) on /tmp/dynfs-demo/mnt'
	@echo '  demo-stop      unmount the demo and stop its emulator'
	@echo '  install        install dynfs and its man page under PREFIX ($(PREFIX))'
	@echo '  uninstall      remove what install installed'
	@echo '  clean          remove everything the build made'
	@echo 'Knobs:'
	@echo '  CFLAGS=...     optimisation/debug flags (default -O2 -g); warnings are always on'
	@echo '  WERROR=1       warnings are errors (default when CI is set)'
	@echo '  SANITIZE=address,undefined'
	@echo '                 sanitizer build in build/san-*/ (check runs pytest against it)'
	@echo '  V=1            show full commands'
	@echo '  PYTEST_ARGS=   extra pytest arguments, e.g. PYTEST_ARGS="-k paging -x"'
	@echo '  PREFIX, DESTDIR, BINDIR, MANDIR  install locations'

-include $(OBJS:.o=.d) $(UNIT_NAMES:%=$(OBJDIR)/tests/unit/%.d)

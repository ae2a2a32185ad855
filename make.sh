#!/bin/sh
# make.sh - `make`, on a machine that may not have make or a compiler yet.
#
#   ./make.sh demo      install what is missing, build, mount the emulator
#   ./make.sh check     install what is missing, build, run every test
#   ./make.sh [TARGET...]
#
# First .ci/deps installs the Debian packages that building and testing need
# (with apt-get as root, through sudo otherwise), then make runs the targets.
# Plain sh, so that it runs where nothing has been installed.
set -e
cd "$(dirname "$0")"
if ! command -v bash >/dev/null 2>&1; then
	echo "make.sh: bash is missing: install it first (apt-get install bash)" >&2
	exit 1
fi
bash .ci/deps
exec make "$@"

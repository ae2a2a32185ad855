#!/usr/bin/env bash
# tests/demo.sh - `make demo`: mount dynfs on an emulated tenant and show what to try.
#
#   tests/demo.sh [start]   (re)start the demo
#   tests/demo.sh stop      unmount and stop the emulator (`make demo-stop`)
#
# With a real configuration ($DYNFS_CONFIG, or ~/.config/dynfs/dynfs.ini) the
# demo mounts that instead of starting the emulator.
#
# Environment: DYNFS_DEMO_MNT (mountpoint, default /tmp/dynfs-demo/mnt for root,
# /tmp/dynfs-demo-USER/mnt for another user), XDG_RUNTIME_DIR (state lives in
# $XDG_RUNTIME_DIR/dynfs-demo, default the mountpoint's parent).
#
# Runs as root or as a user: packages come through sudo (.ci/deps), and the
# mount goes through the setuid fusermount3 as any user's FUSE mount does.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
# One user's leftovers in /tmp must not stand in another's way.
if [[ $(id -u) -eq 0 ]]; then
	BASE=/tmp/dynfs-demo
else
	BASE=/tmp/dynfs-demo-$(id -un)
fi
RUN="${XDG_RUNTIME_DIR:+$XDG_RUNTIME_DIR/dynfs-demo}"
RUN="${RUN:-$BASE}"
MNT="${DYNFS_DEMO_MNT:-$BASE/mnt}"
STATE="$RUN/state"
RECORDS="accounts=200,contacts=500"

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# Is PID alive and running something whose command line contains WHAT?
is_ours() {
	local pid=$1 what=$2
	[[ -n $pid && -r /proc/$pid/cmdline ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$what"
}

# Is $1 a mountpoint (exact match in /proc/self/mountinfo)?
is_mounted() {
	local dir
	dir=$(realpath -m -- "$1")
	awk -v d="$dir" '$5 == d { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# TERM, wait up to 5 s, then KILL.
stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

stop() {
	local mnt pid
	mnt=$(cat "$RUN/mountpoint" 2>/dev/null || echo "$MNT")
	pid=$(cat "$RUN/dynfs.pid" 2>/dev/null || true)
	if is_mounted "$mnt"; then
		say "unmounting $mnt"
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" ||
			say "could not unmount $mnt (is a shell using it?)"
	fi
	if is_ours "$pid" dynfs; then
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		is_ours "$pid" dynfs && stop_pid "$pid"
	fi
	pid=$(cat "$RUN/emulator.pid" 2>/dev/null || true)
	if is_ours "$pid" dvemu.py; then
		say "stopping the emulator (pid $pid)"
		stop_pid "$pid"
	fi
	rm -f "$RUN/dynfs.pid" "$RUN/emulator.pid" "$RUN/mountpoint"
}

# The config the user already has, if any (same search as dynfs, minus /etc).
user_config() {
	if [[ -n ${DYNFS_CONFIG:-} ]]; then
		echo "$DYNFS_CONFIG"
		return
	fi
	local xdg=${XDG_CONFIG_HOME:-}
	[[ $xdg == /* ]] || xdg="${HOME:-/nonexistent}/.config"
	[[ -f $xdg/dynfs/dynfs.ini ]] && echo "$xdg/dynfs/dynfs.ini"
	return 0
}

# First [section] of an INI file that is not [global].
first_tenant() {
	awk 'match($0, /^[ \t]*\[[^]]*\]/) {
		name = substr($0, RSTART, RLENGTH); sub(/^[ \t]*\[[ \t]*/, "", name)
		sub(/[ \t]*\]$/, "", name)
		if (name != "global") { print name; exit }
	}' "$1"
}

start_emulator() {
	local line url=""
	[[ -f $ROOT/tests/emulator/dvemu.py ]] || die "tests/emulator/dvemu.py not found"
	rm -rf "$STATE"
	mkdir -p "$STATE"
	: >"$RUN/emulator.out"
	setsid "$PY" "$ROOT/tests/emulator/dvemu.py" --state-dir "$STATE" --port 0 \
		--records "$RECORDS" </dev/null >"$RUN/emulator.out" 2>"$RUN/emulator.log" &
	echo $! >"$RUN/emulator.pid"
	for _ in $(seq 600); do
		line=$(grep -m1 '^ready ' "$RUN/emulator.out" || true)
		if [[ -n $line ]]; then
			url=${line#ready }
			break
		fi
		kill -0 "$(cat "$RUN/emulator.pid")" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $url ]]; then
		tail -n 20 "$RUN/emulator.log" >&2 || true
		die "the emulator did not start (log: $RUN/emulator.log)"
	fi
	say "emulator ready at $url (pid $(cat "$RUN/emulator.pid"), log $RUN/emulator.log)"
	[[ -f $STATE/dynfs.ini ]] || die "the emulator wrote no $STATE/dynfs.ini"
}

# Can this user mount a FUSE filesystem here?  Say what to do if not.
check_fuse() {
	local fm
	if [[ ! -c /dev/fuse ]]; then
		die "FUSE is not available here: /dev/fuse does not exist.
  On a machine: load the module with 'sudo modprobe fuse'.
  In a container: start it with '--device /dev/fuse --cap-add SYS_ADMIN'
  (docker, podman); dynfs and its tests cannot mount without it."
	fi
	if ! (exec 3<>/dev/fuse) 2>/dev/null; then
		die "/dev/fuse cannot be opened by $(id -un) ($(ls -l /dev/fuse)); it is normally
  mode 0666: ask an administrator to fix it, or run the demo as root"
	fi
	if [[ $(id -u) -ne 0 ]]; then
		fm=$(command -v fusermount3 || true)
		[[ -n $fm ]] || die "fusermount3 is missing (package fuse3): run 'bash .ci/deps'"
		[[ -u $fm ]] || die "$fm is not setuid root, so $(id -un) cannot mount: run
  'sudo chmod u+s $fm' (or reinstall fuse3)"
	fi
}

# Make directory $1 if needed; it must be this user's to write in.
own_dir() {
	mkdir -p -- "$1" 2>/dev/null || true
	[[ -d $1 && -w $1 ]] || die "cannot use $1: $(stat -c 'it belongs to %U, mode %A' -- "$1" \
		2>/dev/null || echo 'cannot create it') (as $(id -un)); set DYNFS_DEMO_MNT to
  a folder of yours"
}

start() {
	local config emulated=0 tenant pid first manual
	stop

	bash "$ROOT/.ci/deps"
	check_fuse
	[[ -w $ROOT ]] || die "$ROOT is not writable by $(id -un): run the demo in a copy of yours"
	make -C "$ROOT" --no-print-directory
	own_dir "$RUN"
	own_dir "$MNT"

	config=$(user_config)
	if [[ -n $config ]]; then
		[[ -f $config ]] || die "$config does not exist (from DYNFS_CONFIG)"
		say "using your configuration $config (no emulator)"
	else
		start_emulator
		config="$STATE/dynfs.ini"
		emulated=1
	fi

	echo "$MNT" >"$RUN/mountpoint"
	say "mounting $MNT: $ROOT/dynfs -f $config $MNT"
	setsid "$ROOT/dynfs" -f "$config" "$MNT" </dev/null >"$RUN/dynfs.log" 2>&1 &
	pid=$!
	echo "$pid" >"$RUN/dynfs.pid"
	for _ in $(seq 300); do
		is_mounted "$MNT" && break
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$RUN/dynfs.log" >&2
			stop
			die "dynfs exited before mounting (log above, also in $RUN/dynfs.log)"
		fi
		sleep 0.1
	done
	if ! is_mounted "$MNT"; then
		stop
		die "$MNT is not mounted after 30 s (log: $RUN/dynfs.log)"
	fi

	tenant=$(first_tenant "$config")
	first="<id>.json"
	manual="fusermount3 -u $MNT"
	if ((emulated)); then
		first=$(find "$MNT/$tenant/accounts/" -maxdepth 1 -name '*.json' -printf '%f\n' -quit)
		manual+="; kill $(cat "$RUN/emulator.pid")"
	fi
	cat <<EOF

dynfs is mounted on $MNT (pid $pid, log $RUN/dynfs.log).  Try:

  ls $MNT
  ls $MNT/$tenant
  cat $MNT/$tenant/.status                         (health, requests, errors)
  ls $MNT/$tenant/accounts | head
  jq .name $MNT/$tenant/accounts/$first
  getfattr -n user.dynfs.etag $MNT/$tenant/accounts/$first
  cp -r $MNT/$tenant/contacts /tmp/contacts-copy
  vim $MNT/$tenant/accounts/$first                 (:w saves one PATCH)
  sed -i 's/"telephone1": .*/"telephone1": "+1 555 0100",/' $MNT/$tenant/accounts/$first
  echo '{"name": "New customer"}' > $MNT/$tenant/accounts/new.json

Stop it with:

  make demo-stop        (or: $manual)
EOF
	if ((!emulated)); then
		say "note: listing a large entity set reads every record, 5000 per request"
	fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) die "usage: $0 [start|stop]" ;;
esac

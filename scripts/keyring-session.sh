#!/usr/bin/env bash
# Runs a command with a real Secret Service: a private D-Bus session and an
# unlocked gnome-keyring whose keyrings live in throwaway folders, so the
# tests of the OS credential store never touch a user's own keyring.
#   scripts/keyring-session.sh cargo test -p countersign-desk --test keychain -- --ignored
set -euo pipefail
if [ -z "${COUNTERSIGN_KEYRING_SESSION:-}" ]; then
  exec env COUNTERSIGN_KEYRING_SESSION=1 dbus-run-session -- "$0" "$@"
fi
XDG_DATA_HOME=$(mktemp -d)
XDG_RUNTIME_DIR=$(mktemp -d)
export XDG_DATA_HOME XDG_RUNTIME_DIR
trap 'rm -rf "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"' EXIT
printf 'countersign-ci' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"$@"

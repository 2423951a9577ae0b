#!/usr/bin/env bash
# Opens Countersign. With nothing configured it runs in demo mode: the
# Restcomm-compatible emulator inside the app and a simulated phone on screen.
# COUNTERSIGN_DATA_DIR picks the data folder (default: the OS app-data folder).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release -p countersign-desk "$@"

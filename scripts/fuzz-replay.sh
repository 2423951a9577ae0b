#!/usr/bin/env bash
# The fuzz crate on stable: it must build, and every target replays its
# committed seed corpus (`fuzz/corpus/<target>/`) without a panic. libFuzzer
# itself needs nightly (`cargo +nightly fuzz run`); without the `libfuzzer`
# feature each target is a plain binary running the same code over the
# seeds, so a change to the core that breaks a target or a seed fails here
# rather than on the next nightly session.
#
# Fails when the crate does not build, when a target panics, when a corpus
# folder is missing or empty, when a target reports no inputs, and when
# fuzz/Cargo.lock pins a crate at a version the root Cargo.lock does not
# have (the shared target folder would then build that crate twice).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
# The workspace's build cache: crates both builds share at the same version,
# features and profile are compiled once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# `name version` of every package in a Cargo.lock.
lock_pairs() {
    awk '/^name = /{gsub(/"/, "", $3); n = $3}
         /^version = /{gsub(/"/, "", $3); print n, $3}' "$1" | sort -u
}
root_names=$(lock_pairs Cargo.lock | cut -d' ' -f1 | sort -u)
drift=$(comm -23 <(lock_pairs fuzz/Cargo.lock) <(lock_pairs Cargo.lock) |
    while read -r name version; do
        if grep -qx "$name" <<<"$root_names"; then echo "$name $version"; fi
    done)
if [ -n "$drift" ]; then
    echo "fuzz/Cargo.lock differs from Cargo.lock for (name, fuzz version):" >&2
    echo "$drift" >&2
    echo "align it: cargo update --manifest-path fuzz/Cargo.toml -p <name> --precise <root version>" >&2
    exit 1
fi

targets=$(awk '/^\[\[bin\]\]/{bin = 1} bin && /^name *=/{gsub(/"/, "", $3); print $3; bin = 0}' fuzz/Cargo.toml)
if [ -z "$targets" ]; then
    echo "no [[bin]] targets found in fuzz/Cargo.toml" >&2
    exit 1
fi

for t in $targets; do
    dir="fuzz/corpus/$t"
    if [ ! -d "$dir" ] || [ -z "$(ls -A "$dir")" ]; then
        echo "fuzz target $t: corpus folder $dir is missing or empty" >&2
        exit 1
    fi
done

cargo build --locked --manifest-path fuzz/Cargo.toml --no-default-features --bins

summary=""
for t in $targets; do
    # A panic exits non-zero and stops the script (set -e).
    out=$(cargo run --locked --quiet --manifest-path fuzz/Cargo.toml --no-default-features --bin "$t")
    echo "$out"
    n=$(sed -n "s/^$t: \([0-9][0-9]*\) corpus inputs replayed, no panic$/\1/p" <<<"$out")
    if [ -z "$n" ] || [ "$n" -eq 0 ]; then
        echo "fuzz target $t replayed no input" >&2
        exit 1
    fi
    summary="$summary $t=$n"
done
echo "FUZZ REPLAY inputs per target:$summary"

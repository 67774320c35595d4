#!/usr/bin/env bash
# Checks that git-conflux counts tasks exactly like the real OpenSpec CLI: installs the pinned
# @fission-ai/openspec into a cache folder (once) and runs tests/change_openspec_compat.rs
# against it. Needs node and npm.
#
#   scripts/openspec-compat.sh            # cache in ${XDG_CACHE_HOME:-~/.cache}/git-conflux/openspec
#   OPENSPEC_CACHE=/some/dir scripts/openspec-compat.sh
set -euo pipefail

version=1.13.2
cache=${OPENSPEC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/git-conflux/openspec-$version}
bin=$cache/node_modules/.bin/openspec

if [[ ! -x $bin ]]; then
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-audit --no-fund "@fission-ai/openspec@$version"
fi

cd "$(dirname "$0")/.."
OPENSPEC_BIN=$bin cargo test --test change_openspec_compat

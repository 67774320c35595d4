#!/bin/sh
# The test command (README.md): installs the tools the tests compare against, then runs the
# whole suite. Tools go to a cache directory outside the repository.
set -eu
cd "$(dirname "$0")/.."
cache=${CONFLUX_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/git-conflux-test}
openspec_version=1.13.2

if [ ! -x "$cache/node_modules/.bin/openspec" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "installing @fission-ai/openspec@$openspec_version into $cache (for the task-counting comparison)"
        mkdir -p "$cache"
        npm install --silent --no-audit --no-fund --prefix "$cache" "@fission-ai/openspec@$openspec_version" >/dev/null
    else
        echo "npm is not installed: the OpenSpec comparison test cannot run (install Node.js and npm)" >&2
    fi
fi
if [ -x "$cache/node_modules/.bin/openspec" ]; then
    PATH="$cache/node_modules/.bin:$PATH"
    export PATH
fi
exec cargo test --locked "$@"

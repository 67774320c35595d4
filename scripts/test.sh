#!/bin/sh
# The test command (README.md): installs the tools the tests compare against or drive, then
# runs the whole suite. Tools go to a cache directory outside the repository:
#   - OpenSpec (@fission-ai/openspec), for the task-counting comparison;
#   - Claude Code (@anthropic-ai/claude-code), the real CLI the `claude` preset's end-to-end
#     tests run offline against a scripted model server (tests/cli/test_claude.rs). Its path
#     reaches the tests as CONFLUX_CLAUDE_BIN; without it those tests fail and say why.
set -eu
cd "$(dirname "$0")/.."
cache=${CONFLUX_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/git-conflux-test}
openspec_version=1.13.2
# The version the fixtures in tests/fixtures/claude/ were recorded with (see VERSION there).
claude_version=2.1.332

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

claude="$cache/claude/node_modules/.bin/claude"
if [ ! -x "$claude" ] || ! "$claude" --version 2>/dev/null | grep -q "^$claude_version "; then
    if command -v npm >/dev/null 2>&1; then
        echo "installing @anthropic-ai/claude-code@$claude_version into $cache/claude (for the claude end-to-end tests; offline, no account)"
        mkdir -p "$cache/claude"
        npm install --silent --no-audit --no-fund --prefix "$cache/claude" "@anthropic-ai/claude-code@$claude_version" >/dev/null
    else
        echo "npm is not installed: the Claude Code end-to-end tests will fail (install Node.js and npm, or set CONFLUX_CLAUDE_BIN)" >&2
    fi
fi
if [ -z "${CONFLUX_CLAUDE_BIN:-}" ] && [ -x "$claude" ]; then
    CONFLUX_CLAUDE_BIN=$claude
    export CONFLUX_CLAUDE_BIN
fi
exec cargo test --locked "$@"

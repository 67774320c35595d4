#!/bin/sh
# The test command (README.md): installs the tools the tests compare against or drive, then
# runs the whole suite. Tools go to a cache directory outside the repository:
#   - OpenSpec (@fission-ai/openspec), for the task-counting comparison;
#   - Claude Code (@anthropic-ai/claude-code), Gemini CLI (@google/gemini-cli), Codex CLI
#     (@openai/codex) and OpenCode (opencode-ai); the last two bring their native binaries as
#     optional dependencies. They are the real CLIs the presets' end-to-end tests run offline
#     against a scripted model server (tests/cli/test_claude.rs, test_gemini.rs,
#     test_codex.rs, test_opencode.rs). Without them those tests fail and say why;
#     CONFLUX_CLAUDE_BIN / CONFLUX_GEMINI_BIN / CONFLUX_CODEX_BIN / CONFLUX_OPENCODE_BIN point
#     the tests at other executables;
#   - Aider (aider-chat on PyPI), into a Python virtualenv with pip (test_aider.rs;
#     CONFLUX_AIDER_BIN).
set -eu
cd "$(dirname "$0")/.."
cache=${CONFLUX_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/git-conflux-test}
openspec_version=1.13.2
# The version the fixtures in tests/fixtures/claude/ were recorded with (see VERSION there).
claude_version=2.1.332
gemini_version=0.61.0
# tests/fixtures/codex/VERSION
codex_version=0.171.0
# tests/fixtures/opencode/VERSION
opencode_version=1.18.33
aider_version=0.86.2

# install_cli NAME PACKAGE VERSION: the agent CLI into $cache/NAME unless that version is there.
install_cli() {
    bin="$cache/$1/node_modules/.bin/$1"
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$3"; then
        return 0
    fi
    if command -v npm >/dev/null 2>&1; then
        echo "installing $2@$3 into $cache/$1"
        mkdir -p "$cache/$1"
        npm install --silent --no-audit --no-fund --prefix "$cache/$1" "$2@$3" >/dev/null
    else
        echo "npm is not installed: the tests that need $1 will fail (install Node.js and npm)" >&2
    fi
}
install_cli openspec @fission-ai/openspec "$openspec_version"
install_cli claude @anthropic-ai/claude-code "$claude_version"
install_cli gemini @google/gemini-cli "$gemini_version"
install_cli codex @openai/codex "$codex_version"
install_cli opencode opencode-ai "$opencode_version"
# Aider: a virtualenv in $cache/aider (about 700 MB; a few minutes the first time).
aider_installed() {
    "$cache/aider/bin/python" -c 'import importlib.metadata as m; print(m.version("aider-chat"))' \
        2>/dev/null
}
if [ "$(aider_installed)" != "$aider_version" ]; then
    if command -v python3 >/dev/null 2>&1; then
        echo "installing aider-chat==$aider_version into $cache/aider"
        # A failed install fails the aider test (which says why), not the whole suite.
        python3 -m venv "$cache/aider" && "$cache/aider/bin/pip" install --quiet \
            --disable-pip-version-check "aider-chat==$aider_version" >/dev/null ||
            echo "installing aider-chat failed: the aider end-to-end test will fail" >&2
    else
        echo "python3 is not installed: the aider end-to-end test will fail" >&2
    fi
fi
# The OpenSpec tests find `openspec` on PATH.
if [ -x "$cache/openspec/node_modules/.bin/openspec" ]; then
    PATH="$cache/openspec/node_modules/.bin:$PATH"
    export PATH
fi
# The tests find the agent CLIs in $cache themselves; these say where when the cache moves.
CONFLUX_TEST_CACHE=$cache
export CONFLUX_TEST_CACHE
# The sandbox tests need bubblewrap (`bwrap`); without it they skip with a message, except in
# CI (CI=true), where they fail (.ci/run installs it).
if ! command -v bwrap >/dev/null 2>&1; then
    echo "bubblewrap (bwrap) is not installed: the sandbox tests will be skipped (apt-get install bubblewrap)" >&2
fi
# A snapshot that differs fails and nothing is written (tests/cli/test_snapshots.rs); to get
# the new text as .pending-snap files for `cargo insta review`, run with INSTA_UPDATE=new.
INSTA_UPDATE=${INSTA_UPDATE:-no}
export INSTA_UPDATE
exec cargo test --locked "$@"

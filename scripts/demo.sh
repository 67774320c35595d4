#!/bin/sh
# The demo: a sample repository with three OpenSpec changes (one depending on another), driven
# by the bundled demo agent (scripts/demo-agent.sh), so you can watch `git conflux start` work
# without spending anything. Pass a directory to keep the repository there.
#
#   scripts/demo.sh [DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if command -v git-conflux >/dev/null 2>&1; then
    conflux=git-conflux
elif [ -x "$here/../target/release/git-conflux" ]; then
    conflux="$here/../target/release/git-conflux"
else
    echo "error: git-conflux is not on PATH" >&2
    echo "hint: run scripts/install.sh first" >&2
    exit 2
fi
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/conflux-demo.XXXXXX")}
repo="$dir/shop"
if [ -e "$repo" ]; then
    echo "$repo exists already: pass another directory" >&2
    exit 2
fi
mkdir -p "$repo"
cd "$repo"
git init -q -b main
git config user.name >/dev/null 2>&1 || git config user.name "Conflux Demo"
git config user.email >/dev/null 2>&1 || git config user.email "demo@example.com"

change() { # id, deps, title, tasks...
    id=$1; deps=$2; title=$3; shift 3
    mkdir -p "openspec/changes/$id"
    {
        [ -z "$deps" ] || printf -- '---\ndependencies: [%s]\n---\n' "$deps"
        printf '# Change: %s\n\n## Why\nThe demo shop needs it.\n\n## What Changes\n- %s\n' "$title" "$1"
    } >"openspec/changes/$id/proposal.md"
    {
        printf '## 1. Implementation\n'
        for t in "$@"; do printf -- '- [ ] %s\n' "$t"; done
    } >"openspec/changes/$id/tasks.md"
}
change add-catalog "" "Add the product catalog" "Define the product model" "List products" "Show one product" "Add catalog tests"
change add-cart "add-catalog" "Add a shopping cart" "Create the cart" "Add to cart" "Remove from cart"
change add-search "" "Search products by name" "Index product names" "Search by name" "Rank results" "Add search tests"
cat >.conflux.yaml <<YAML
# The bundled demo agent ticks one task per run, pausing so the progress is visible.
agent: {command: "sh $here/demo-agent.sh", prompt: stdin}
jobs: 2
stagger: 1s
verify: test -s conflux-demo/\$CONFLUX_CHANGE_ID.txt
env: {DEMO_PAUSE: "1", DEMO_TICK: "2"}
YAML
printf '# Demo shop\n' >README.md
git add -A
git commit -q -m "Demo shop with three changes"

echo "Demo repository: $repo"
$conflux status
echo
$conflux start || true
echo
$conflux status
echo
$conflux merge --all
echo
git log --oneline --graph -n 12

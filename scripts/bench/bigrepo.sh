#!/bin/sh
# One change through `git conflux start` on a 50,000-file repository (worktree + branch, a
# trivial agent, the status scan, the commit) against the same work by git: `git worktree add
# -b`, the same two file edits, `git add -A`, `git commit`; runs alternate, medians printed.
# (The dirty check alone against `git status --porcelain` is `scripts/bench.sh git`.)
# BASE=<an older git-conflux> runs it too in every round, for a before/after pair measured
# alternately in one session. Every figure is printed with its spread (min-max).
set -eu
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
runs=${RUNS:-5}
bin=$(bench_binary)
agent=$PWD/scripts/demo-agent.sh
work=$(bench_workdir bigrepo-bench)
trap 'rm -rf "$work"' EXIT
bench_git_env
repo=$work/repo
mkdir -p "$repo" && cd "$repo"
git init -q -b main
# No background `gc --auto` after the first commit: it would race the explicit gc below.
git config gc.auto 0
bench_tree "$repo/tree"
bench_changes 1
printf 'agent: {command: "sh %s", prompt: stdin}\nstagger: 0s\nenv: {DEMO_TICK: all, DEMO_STATE: "%s"}\n' "$agent" "$work" >.conflux.yaml
git add -A && git commit -q -m "50k files" && git gc -q

# git's flow for one change: what `start` does, with the agent's two edits done by sh.
git_flow() {
    git worktree add -q -b gb "$work/git-wt" main &&
        cd "$work/git-wt" &&
        mkdir -p conflux-demo && echo "c0: the only task" >conflux-demo/c0.txt &&
        sed -i 's/\[ \]/[x]/' openspec/changes/c0/tasks.md &&
        git add -A && git commit -q -m "c0: iteration 1"
}

: >"$work/ours"; : >"$work/base"; : >"$work/git"

# conflux BINARY >>FILE: one `start` of c0 timed, checked, and undone.
conflux() {
    (cd "$repo" && us "$1" start --no-progress c0)
    [ -n "$(git -C "$repo.conflux/c0" log -1 --format=%H conflux/c0 -- conflux-demo)" ] || { echo "start committed nothing" >&2; exit 1; }
    rm -rf "$repo.conflux" "$repo/.git/conflux"
    git -C "$repo" worktree prune
    git -C "$repo" branch -q -D conflux/c0
}

# spread < FILE of microseconds: "min-max" in milliseconds.
spread() { sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f-%.0f", lo / 1000, hi / 1000}'; }

r=0
while [ $r -lt "$runs" ]; do
    conflux "$bin" >>"$work/ours"
    if [ -n "${BASE:-}" ]; then conflux "$BASE" >>"$work/base"; fi
    (us git_flow) >>"$work/git"
    rm -rf "$work/git-wt"
    git -C "$repo" worktree prune
    git -C "$repo" branch -q -D gb
    r=$((r + 1))
done
echo "one change on 50,000 files, median of $runs runs (load: $(cut -d' ' -f1-3 /proc/loadavg)):"
report "git conflux start (worktree, agent, scan, commit)" "$(median <"$work/ours")" \
    "git worktree add -b + edits + git add -A + commit" "$(median <"$work/git")" 0.5
echo "  spreads (ms): ours $(spread <"$work/ours"), git $(spread <"$work/git")"
if [ -n "${BASE:-}" ]; then
    report "BASE: $BASE" "$(median <"$work/base")" \
        "git worktree add -b + edits + git add -A + commit" "$(median <"$work/git")" 0.5
    echo "  spread (ms): BASE $(spread <"$work/base")"
fi

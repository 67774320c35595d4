#!/bin/sh
# One change through `git conflux start` on a 50,000-file repository (worktree + branch, a
# trivial agent, the status scan, the commit) against the same work by git: `git worktree add
# -b`, the same two file edits, `git add -A`, `git commit`; runs alternate, medians printed.
set -eu
cd "$(dirname "$0")/../.."
runs=${RUNS:-5}
# BIN: a prebuilt binary to measure instead (say, an older build, for a before/after table).
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; fi
bin=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/git-conflux}
agent=$PWD/scripts/demo-agent.sh
# On /dev/shm when there is one: this VM's disk swings file creation 10x between runs.
shm=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && shm=/dev/shm
work=$(mktemp -d "${TMPDIR:-$shm}/conflux-bigrepo-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b
repo=$work/repo
mkdir -p "$repo" && cd "$repo"
git init -q -b main
python3 - "$repo/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(2000):
    path = os.path.join(root, f"d{d:04}")
    os.makedirs(path)
    for f in range(25):
        with open(os.path.join(path, f"f{f:02}.txt"), "w") as out:
            out.write("".join(f"dir {d} file {f} line {i}\n" for i in range(8)))
PY
mkdir -p openspec/changes/c0
printf '# Change: c0\n' >openspec/changes/c0/proposal.md
printf -- '- [ ] the only task\n' >openspec/changes/c0/tasks.md
printf 'agent: {command: "sh %s", prompt: stdin}\nstagger: 0s\nenv: {DEMO_TICK: all, DEMO_STATE: "%s"}\n' "$agent" "$work" >.conflux.yaml
git add -A && git commit -q -m "50k files" && git gc -q

us() { s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; e=$(date +%s%N); echo $(((e - s) / 1000)); }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }

# git's flow for one change: what `start` does, with the agent's two edits done by sh.
git_flow() {
    git worktree add -q -b gb "$work/git-wt" main &&
        cd "$work/git-wt" &&
        mkdir -p conflux-demo && echo "c0: the only task" >conflux-demo/c0.txt &&
        sed -i 's/\[ \]/[x]/' openspec/changes/c0/tasks.md &&
        git add -A && git commit -q -m "c0: iteration 1"
}

# (The dirty check alone against `git status --porcelain` is `scripts/bench.sh git`.)
: >"$work/ours"; : >"$work/git"
r=0
while [ $r -lt "$runs" ]; do
    (cd "$repo" && us "$bin" start --no-progress c0) >>"$work/ours"
    [ -n "$(git -C "$repo.conflux/c0" log -1 --format=%H conflux/c0 -- conflux-demo)" ] || { echo "start committed nothing" >&2; exit 1; }
    (us git_flow) >>"$work/git"
    rm -rf "$repo.conflux" "$work/git-wt" "$repo/.git/conflux"
    git -C "$repo" worktree prune
    git -C "$repo" branch -q -D conflux/c0 gb
    r=$((r + 1))
done
ours=$(median <"$work/ours"); theirs=$(median <"$work/git")
echo "one change on 50,000 files, median of $runs runs:"
echo "  git conflux start (worktree, agent, scan, commit)       ${ours} ms"
echo "  git worktree add -b + the edits + git add -A + commit   ${theirs} ms"
awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "  ratio                                                   %.3fx (target <= 0.5x)\n", a/b}'

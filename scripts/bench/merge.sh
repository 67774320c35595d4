#!/bin/sh
# `git conflux merge --all` of N done changes against git merging the same branches one after
# the other in a clone, at N=20 and N=100 (the ratio must not grow with N); and `merge` of one
# change in a repository with 100 recorded changes against the same merge with 1 recorded.
# Each repository is made once by `git conflux start` (a trivial agent) and restored from a
# pristine copy before every timed run; runs alternate ours and git's; medians are printed.
set -eu
cd "$(dirname "$0")/../.."
runs=${RUNS:-5}
sizes=${SIZES:-20 100}
# BIN: a prebuilt binary to measure instead (say, an older build, for a before/after table).
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; fi
bin=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/git-conflux}
agent=$PWD/scripts/demo-agent.sh
# On /dev/shm when there is one: this VM's disk swings file creation 10x between runs.
shm=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && shm=/dev/shm
work=$(mktemp -d "${TMPDIR:-$shm}/conflux-merge-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b

# pristine N [ID]: $work/pristine-N[-ID]/{repo,repo.conflux}: N changes, all done on their
# branches (or only ID), made at $work/run (worktree registrations hold absolute paths) and
# moved aside.
pristine() {
    name=$1${2:+-$2}
    [ -d "$work/pristine-$name" ] && return 0
    rm -rf "$work/run"
    mkdir -p "$work/run/repo"
    (
        cd "$work/run/repo"
        git init -q -b main
        i=0
        while [ $i -lt "$1" ]; do
            mkdir -p openspec/changes/c$i
            printf '# Change: c%s\n' $i >openspec/changes/c$i/proposal.md
            printf -- '- [ ] the only task\n' >openspec/changes/c$i/tasks.md
            i=$((i + 1))
        done
        printf 'agent: {command: "sh %s", prompt: stdin}\njobs: 8\nstagger: 0s\nenv: {DEMO_TICK: all, DEMO_STATE: "%s"}\n' "$agent" "$work" >.conflux.yaml
        git add -A && git commit -q -m bench
        "$bin" start --no-progress ${2:-} >"$work/start-$name.log" 2>&1 || { tail -20 "$work/start-$name.log"; exit 1; }
    )
    mv "$work/run" "$work/pristine-$name"
}

# restore N: a fresh copy of pristine N at $work/run (the same absolute paths every time).
restore() {
    rm -rf "$work/run"
    cp -a "$work/pristine-$1" "$work/run"
}

# The ids are the same for ours and git's; git merges the clone's remote-tracking branches.
git_loop() {
    i=0
    while [ $i -lt "$1" ]; do
        git -C "$work/clone" merge -q --no-edit "origin/conflux/c$i" || return 1
        i=$((i + 1))
    done
}

us() { s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; e=$(date +%s%N); echo $(((e - s) / 1000)); }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }

# Goal: merge --all <= 0.5x the git loop, at every N.
for n in $sizes; do
    pristine "$n"
    : >"$work/ours-$n"; : >"$work/git-$n"
    r=0
    while [ $r -lt "$runs" ]; do
        restore "$n"
        (cd "$work/run/repo" && us "$bin" merge --all) >>"$work/ours-$n"
        merged=$(git -C "$work/run/repo" log --oneline --merges main | wc -l)
        [ "$merged" -ge $((n - 1)) ] || { echo "merge --all merged only $merged of $n" >&2; exit 1; }
        rm -rf "$work/clone"
        git clone -q "$work/pristine-$n/repo" "$work/clone"
        us git_loop "$n" >>"$work/git-$n"
        r=$((r + 1))
    done
    ours=$(median <"$work/ours-$n"); theirs=$(median <"$work/git-$n")
    echo "merge --all, $n done changes, median of $runs runs:"
    echo "  git conflux merge --all               ${ours} ms"
    echo "  git merge of the same $n, one by one   ${theirs} ms"
    awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "  ratio                                 %.3fx (target <= 0.5x)\n", a/b}'
done

# Goal: merging one change costs the same with 100 recorded changes as with 1 (the same 100
# changes in the repository; in one of them only c0 ran).
pristine 100 c0
pristine 100
: >"$work/one-100-c0"; : >"$work/one-100"
r=0
while [ $r -lt "$runs" ]; do
    for n in 100-c0 100; do
        restore "$n"
        (cd "$work/run/repo" && us "$bin" merge c0) >>"$work/one-$n"
    done
    r=$((r + 1))
done
one=$(median <"$work/one-100-c0"); hundred=$(median <"$work/one-100")
echo "merge of one change (of 100 in the repository), median of $runs runs:"
echo "  with 1 recorded change      ${one} ms"
echo "  with 100 recorded changes   ${hundred} ms"
awk -v a="$hundred" -v b="$one" 'BEGIN {printf "  ratio                       %.3fx (target <= 1.1x)\n", a/b}'

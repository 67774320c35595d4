#!/bin/sh
# `git conflux merge --all` of N done changes against git merging the same branches one after
# the other in a clone, at N=20 and N=100 (the ratio must not grow with N); and `merge` of one
# change in a repository with 100 recorded changes against the same merge with 1 recorded.
# Each repository is made once by `git conflux start` (a trivial agent) and restored from a
# pristine copy before every timed run; runs alternate ours and git's; medians are printed.
set -eu
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
runs=${RUNS:-5}
sizes=${SIZES:-20 100}
bin=$(bench_binary)
agent=$PWD/scripts/demo-agent.sh
work=$(bench_workdir merge-bench)
trap 'rm -rf "$work"' EXIT
bench_git_env

# pristine N [ID]: $work/pristine-N[-ID]/{repo,repo.conflux}: N changes, all done on their
# branches (or only ID), made at $work/run (worktree registrations hold absolute paths) and
# moved aside. The agent pauses a second before its work, as any real agent takes longer:
# with an instant one, every file of a worktree has the same mtime second as the index the
# commit writes, so each dirty check must read and hash them all ("racily clean", as git
# calls it), which no real run sees.
pristine() {
    name=$1${2:+-$2}
    [ -d "$work/pristine-$name" ] && return 0
    rm -rf "$work/run"
    mkdir -p "$work/run/repo"
    (
        cd "$work/run/repo"
        git init -q -b main
        bench_changes "$1"
        printf 'agent: {command: "sh %s", prompt: stdin}\njobs: 8\nstagger: 0s\nenv: {DEMO_PAUSE: "1", DEMO_TICK: all, DEMO_STATE: "%s"}\n' "$agent" "$work" >.conflux.yaml
        git add -A && git commit -q -m bench
        "$bin" start --no-progress ${2:-} >"$work/start-$name.log" 2>&1 || { tail -20 "$work/start-$name.log"; exit 1; }
    )
    mv "$work/run" "$work/pristine-$name"
}

# restore N: a fresh copy of pristine N at $work/run (the same absolute paths every time).
# A copy keeps mtimes but gives every file a new inode and ctime, so no index's stat data
# matches its files any more and every dirty check would read and hash every file (git's
# merge loop works in a fresh clone, whose index matches). `git update-index --refresh`
# (untimed) records the new stat data, as it stands after any checkout.
restore() {
    rm -rf "$work/run"
    cp -a "$work/pristine-$1" "$work/run"
    for checkout in "$work/run/repo" "$work/run/repo.conflux"/*; do
        git -C "$checkout" update-index -q --refresh >/dev/null 2>&1 || true
    done
}

# both WALL CPU COMMAND...: runs it once (output discarded), appending its wall time (us) to
# WALL and its CPU time (task-clock, us, every thread and child) to CPU, both as perf stat
# measures the command itself (perf's own start-up not included). CPU time is far less
# sensitive than wall time to the other work of a shared machine.
both() {
    wall=$1 cpu=$2
    shift 2
    if command -v perf >/dev/null 2>&1; then
        LC_ALL=C perf stat -e task-clock -o "$work/perf.out" "$@" >/dev/null 2>&1 ||
            { echo "failed: $*" >&2; exit 1; }
        awk '/seconds time elapsed/ {printf "%d\n", $1 * 1000000}' "$work/perf.out" >>"$wall"
        awk '/msec task-clock/ {printf "%d\n", $1 * 1000}' "$work/perf.out" >>"$cpu"
    else
        us "$@" >>"$wall"
        echo 0 >>"$cpu"
    fi
}

# The ids are the same for ours and git's; git merges the clone's remote-tracking branches.
# loop_script N: the shell script of that loop (run under perf stat as one command).
loop_script() {
    printf 'i=0; while [ $i -lt %s ]; do git -C "%s" merge -q --no-edit "origin/conflux/c$i" || exit 1; i=$((i + 1)); done' "$1" "$work/clone"
}

# Goal: merge --all <= 0.5x the git loop, at every N.
for n in $sizes; do
    pristine "$n"
    : >"$work/ours-$n"; : >"$work/git-$n"; : >"$work/ours-cpu-$n"; : >"$work/git-cpu-$n"
    r=0
    while [ $r -lt "$runs" ]; do
        restore "$n"
        (cd "$work/run/repo" && both "$work/ours-$n" "$work/ours-cpu-$n" "$bin" merge --all)
        merged=$(git -C "$work/run/repo" log --oneline --merges main | wc -l)
        [ "$merged" -ge $((n - 1)) ] || { echo "merge --all merged only $merged of $n" >&2; exit 1; }
        rm -rf "$work/clone"
        git clone -q "$work/pristine-$n/repo" "$work/clone"
        both "$work/git-$n" "$work/git-cpu-$n" sh -c "$(loop_script "$n")"
        r=$((r + 1))
    done
    echo "merge --all, $n done changes, median of $runs runs:"
    report "git conflux merge --all" "$(median <"$work/ours-$n")" \
        "git merge of the same $n, one by one" "$(median <"$work/git-$n")" 0.5
    echo "  CPU time (task-clock), median of $runs runs:"
    report "git conflux merge --all" "$(median <"$work/ours-cpu-$n")" \
        "git merge of the same $n, one by one" "$(median <"$work/git-cpu-$n")" 0.5
done

# Goal: merging one change costs the same with 100 recorded changes as with 1 (the same 100
# changes in the repository; in one of them only c0 ran).
pristine 100 c0
pristine 100
: >"$work/one-100-c0"; : >"$work/one-100"; : >"$work/one-cpu-100-c0"; : >"$work/one-cpu-100"
r=0
while [ $r -lt "$runs" ]; do
    for n in 100-c0 100; do
        restore "$n"
        (cd "$work/run/repo" && both "$work/one-$n" "$work/one-cpu-$n" "$bin" merge c0)
    done
    r=$((r + 1))
done
echo "merge of one change (of 100 in the repository), median of $runs runs:"
report "with 100 recorded changes" "$(median <"$work/one-100")" \
    "with 1 recorded change" "$(median <"$work/one-100-c0")" 1.1
echo "  CPU time (task-clock), median of $runs runs:"
report "with 100 recorded changes" "$(median <"$work/one-cpu-100")" \
    "with 1 recorded change" "$(median <"$work/one-cpu-100-c0")" 1.1

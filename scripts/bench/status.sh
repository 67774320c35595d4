#!/bin/sh
# `git conflux status --json` against `openspec list --json` on a generated repository of
# 200 changes x 30 tasks, 100 of which have a recorded run (`git conflux start`, a trivial
# agent), in the same run; prints medians and their ratio.
set -eu
cd "$(dirname "$0")/../.."
runs=${RUNS:-15}
. scripts/bench/lib.sh
bin=$(bench_binary)
openspec=$(command -v openspec || echo "${XDG_CACHE_HOME:-$HOME/.cache}/git-conflux-test/openspec/node_modules/.bin/openspec")
[ -x "$openspec" ] || { echo "openspec not found: run scripts/test.sh once (it installs it)" >&2; exit 2; }
data=$PWD/target/bench-data/status-200x30-runs
agent=$PWD/scripts/demo-agent.sh
times=$PWD/target/bench-data/times
if [ ! -d "$data/.git" ]; then
    rm -rf "$data"; mkdir -p "$data"
    (
        cd "$data"
        git init -q -b main
        i=0
        while [ $i -lt 200 ]; do
            d=openspec/changes/change-$i
            mkdir -p "$d"
            printf '# Change: number %s\n\n## Why\nBenchmark.\n' $i >"$d/proposal.md"
            {
                printf '## 1. Tasks\n'
                t=0
                while [ $t -lt 30 ]; do
                    if [ $((t % 3)) -eq 0 ]; then printf -- '- [x] task %s\n' $t; else printf -- '- [ ] task %s\n' $t; fi
                    t=$((t + 1))
                done
            } >"$d/tasks.md"
            i=$((i + 1))
        done
        printf 'agent: {command: "sh %s", prompt: stdin}\njobs: 8\nstagger: 0s\nenv: {DEMO_TICK: "1"}\n' "$agent" >.conflux.yaml
        git add -A && git -c user.name=b -c user.email=b@b commit -q -m bench
        i=0; ids=""
        while [ $i -lt 100 ]; do ids="$ids change-$i"; i=$((i + 1)); done
        # shellcheck disable=SC2086
        GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b \
            "$bin" start --no-progress --max-iterations 1 $ids >/dev/null 2>&1 || true
    )
fi
median_ms() { # command...
    n=0
    : >"$times"
    while [ $n -lt "$runs" ]; do
        s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
        echo $(((e - s) / 1000)) >>"$times"
        n=$((n + 1))
    done
    sort -n "$times" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'
}
ours=$(cd "$data" && median_ms "$bin" status --json)
theirs=$(cd "$data" && median_ms "$openspec" list --json)
echo "status, 200 changes x 30 tasks, $(ls "$data/.git/conflux/state" 2>/dev/null | wc -l) state files, median of $runs runs:"
echo "  git conflux status --json  ${ours} ms"
echo "  openspec list --json       ${theirs} ms"
awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "  ratio                      %.3fx (target <= 0.5x, and <= 100 ms)\n", a/b}'

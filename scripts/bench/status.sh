#!/bin/sh
# `git conflux status --json` against `openspec list --json` on a generated repository of
# 200 changes x 30 tasks, in the same run; prints medians and their ratio.
set -eu
cd "$(dirname "$0")/../.."
runs=${RUNS:-15}
cargo build --release --quiet
bin=$PWD/target/release/git-conflux
openspec=$(command -v openspec || echo "${XDG_CACHE_HOME:-$HOME/.cache}/git-conflux-test/openspec/node_modules/.bin/openspec")
[ -x "$openspec" ] || { echo "openspec not found: run scripts/test.sh once (it installs it)" >&2; exit 2; }
data=$PWD/target/bench-data/status-200x30
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
        git add -A && git -c user.name=b -c user.email=b@b commit -q -m bench
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
echo "status, 200 changes x 30 tasks, median of $runs runs:"
echo "  git conflux status --json  ${ours} ms"
echo "  openspec list --json       ${theirs} ms"
awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "  ratio                      %.3fx (target <= 0.5x, and <= 100 ms)\n", a/b}'

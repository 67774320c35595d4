#!/bin/sh
# `git conflux start` on 100 changes with 16 slots, stagger 0, and an agent that sleeps 1 s
# and ticks every task: makespan against the ideal, the orchestrator's own CPU time (its
# agents excluded) and its peak RSS, sampled from /proc while it runs.
# CHANGES, SLOTS: the size (CHANGES=20 SLOTS=4 for the small run). FROM=<repository>: the
# bench repository starts as a clone of it (a real history, e.g. a local clone of tokio)
# instead of an empty one; PACK=1 (implied by FROM) packs it with `git gc` first, where
# gix's pack caches come into play. RUNS=N: N runs of `start` on the same repository (its
# worktrees, branches and states removed between them), each reported, then the median and
# spread of the makespan and ratios; the references are measured once.
set -eu
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
n=${CHANGES:-100}
slots=${SLOTS:-16}
bin=$(bench_binary)
agent=$PWD/scripts/demo-agent.sh
work=$(bench_workdir bench)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
if [ -n "${FROM:-}" ]; then
    git clone -q --no-hardlinks "$FROM" "$repo" && cd "$repo" && git checkout -q -B main
else
    mkdir -p "$repo" && cd "$repo" && git init -q -b main
fi
bench_changes "$n"
printf 'agent: {command: "sh %s", prompt: stdin}\njobs: %s\nstagger: 0s\nenv: {DEMO_PAUSE: "1", DEMO_TICK: all, DEMO_STATE: "%s"}\n' "$agent" "$slots" "$work" >.conflux.yaml
git add -A && git -c user.name=b -c user.email=b@b commit -q -m bench
if [ -n "${FROM:-}" ] || [ "${PACK:-0}" = 1 ]; then git gc -q; fi

# The reference, in the same run: `git worktree add` of the same N worktrees, one after the
# other; its wall time per worktree and its CPU time in all.
wt_start=$(date +%s%N)
/usr/bin/time -f "%U %S" -o "$work/git-cpu" sh -c '
    i=0; while [ $i -lt '"$n"' ]; do git worktree add -q -b probe$i "'"$work"'/probe/$i" || exit 1; i=$((i + 1)); done'
wt_ns=$(( ($(date +%s%N) - wt_start) / n ))
git_cpu=$(awk '{print $1 + $2}' "$work/git-cpu")
i=0; while [ $i -lt "$n" ]; do git worktree remove --force "$work/probe/$i"; git branch -q -D probe$i; i=$((i + 1)); done

# The agent alone, in the same run: the demo agent on a copy of one change, three times;
# its median wall time is what one wave costs any orchestrator (its 1 s pause plus the
# shell and the processes it starts).
mkdir -p "$work/alone/openspec/changes/c0"
agent_ms=$(for i in 1 2 3; do
    printf -- '- [ ] the only task\n' >"$work/alone/openspec/changes/c0/tasks.md"
    (cd "$work/alone" && CONFLUX_CHANGE_ID=c0 DEMO_PAUSE=1 DEMO_TICK=all DEMO_STATE="$work/alone" us sh "$agent" </dev/null)
done | sort -n | sed -n 2p)

# One run of `start`, reported; its makespan (ms) is appended to $work/makespans.
one_run() {
start=$(date +%s%N)
GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b \
    "$bin" start --no-progress >"$work/out.log" 2>&1 &
pid=$!
ticks=0; hwm=0; anon=0; file=0
while kill -0 $pid 2>/dev/null; do
    if stat=$(cat /proc/$pid/stat 2>/dev/null); then
        ticks=$(echo "$stat" | awk '{print $14 + $15}')
        h=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
        [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
        # Where the peak sits: the largest heap, stacks and other anonymous memory seen, and
        # the largest mapped files (the binary's code, libc, a packed repository's packs).
        split=$(awk -v a0="$anon" -v f0="$file" '/RssAnon/ {a=$2} /RssFile/ {f=$2} END {print (a > a0 ? a : a0), (f > f0 ? f : f0)}' /proc/$pid/status 2>/dev/null || echo "$anon $file")
        anon=${split% *}; file=${split#* }
    fi
    sleep 0.05
done
wait $pid || { mkdir -p target/bench-data; cp "$work/out.log" "$OLDPWD/target/bench-data/orchestrate-failed.log" 2>/dev/null; echo "start failed: see target/bench-data/orchestrate-failed.log"; grep -vE " (done|queued|preparing|applying|agent|tasks|iteration|created|committed)" "$work/out.log" | tail -20; exit 1; }
end=$(date +%s%N)
hz=$(getconf CLK_TCK)
cores=$(nproc)
awk -v ms=$(((end - start) / 1000000)) -v n="$n" -v s="$slots" -v wt=$((wt_ns / 1000000)) -v t="$ticks" -v hz="$hz" -v rss="$hwm" -v gcpu="$git_cpu" -v cores="$cores" -v anon="$anon" -v file="$file" -v agent="$((agent_ms / 1000))" 'BEGIN {
    waves = int((n + s - 1) / s)
    ideal = waves * 1000 + n * wt / cores
    cpu = t / hz
    printf "orchestrate: %d changes, %d slots, 1 s agent, stagger 0, %d cores\n", n, s, cores
    printf "  makespan            %.2f s\n", ms / 1000
    printf "  ideal               %.2f s  (%d waves x 1 s + %d git worktree adds of %d ms spread over %d cores)\n", ideal / 1000, waves, n, wt, cores
    printf "  ratio               %.3fx  (target <= 1.05x)\n", ms / ideal
    measured = waves * agent + n * wt / cores
    printf "    with the agent as measured alone (%d ms, not 1 s): ideal %.2f s, ratio %.3fx\n", agent, measured / 1000, ms / measured
    printf "  orchestrator CPU    %.2f s = %.1f%% of one core over the run  (target <= 2%%)\n", cpu, 100 * cpu / (ms / 1000)
    printf "    git worktree add of the same %d worktrees: %.2f s CPU; the rest, %.2f s = %.1f%%, is orchestration\n", n, gcpu, cpu - gcpu, 100 * (cpu - gcpu) / (ms / 1000)
    printf "  CPU per change      %.1f ms, git worktree add %.1f ms: orchestration %.1f ms per change  (target <= 20 ms, flat in N)\n", 1000 * cpu / n, 1000 * gcpu / n, 1000 * (cpu - gcpu) / n
    printf "  orchestrator RSS    %.1f MB peak  (target <= 20 MB at 100 / 16)\n", rss / 1024
    printf "    largest seen: %.1f MB anonymous (heap, stacks), %.1f MB mapped files (binary, libc, packs)\n", anon / 1024, file / 1024
}'
echo $(((end - start) / 1000000)) >>"$work/makespans"
}

# What a run made, removed so that the next run starts the same changes afresh.
reset_run() {
    rm -rf "$repo.conflux" .git/conflux "$work"/demo-agent-*
    git worktree prune
    git for-each-ref --format='%(refname:short)' refs/heads/conflux | while read -r b; do git branch -q -D "$b"; done
}

runs=${RUNS:-1}
run=1
while [ $run -le "$runs" ]; do
    [ "$runs" -gt 1 ] && echo "run $run of $runs"
    one_run
    [ $run -lt "$runs" ] && reset_run
    run=$((run + 1))
done
if [ "$runs" -gt 1 ]; then
    waves=$(((n + slots - 1) / slots))
    sort -n "$work/makespans" | awk -v waves="$waves" -v n="$n" -v wt=$((wt_ns / 1000000)) -v cores="$(nproc)" -v agent="$((agent_ms / 1000))" '
        {m[NR] = $1}
        END {
            med = (NR % 2) ? m[(NR + 1) / 2] : (m[NR / 2] + m[NR / 2 + 1]) / 2
            ideal = waves * 1000 + n * wt / cores
            measured = waves * agent + n * wt / cores
            printf "over %d runs: makespan median %.2f s (%.2f-%.2f), ratio median %.3fx (%.3f-%.3f), with the agent as measured alone %.3fx (%.3f-%.3f)\n", NR, med / 1000, m[1] / 1000, m[NR] / 1000, med / ideal, m[1] / ideal, m[NR] / ideal, med / measured, m[1] / measured, m[NR] / measured
        }'
fi

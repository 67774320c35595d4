#!/bin/sh
# The bundled demo agent: a stand-in for a real coding agent, used by scripts/demo.sh and by
# the integration tests. It reads its prompt from stdin, finds the change's tasks.md in the
# current directory (the change's worktree), does a little "work" (appends to a file), ticks
# tasks and prints what it does.
#
# Behaviour, from the environment (set per change through `conflux: {env: {...}}` in a
# proposal's front matter, or `env:` in .conflux.yaml):
#   DEMO_TICK      tasks ticked per run: a number or `all` (default 1)
#   DEMO_PAUSE     seconds to pause before each tick (default 0)
#   DEMO_MODE      normal | noop (ticks nothing) | hang (prints once, then sleeps)
#                  | crash (exits 3) | ratelimit (first run fails with a 429, later runs work)
#                  | json (prints Claude Code stream-json) | spawn (leaves a background child)
#                  | verify-fix (creates VERIFY_OK on its second run)
#   DEMO_STATE     a directory for memory across runs (ratelimit, verify-fix)
#   DEMO_FILE      the file the work goes to (default conflux-demo/<change id>.txt)
#   DEMO_WAIT_FOR  a path: wait (up to 120 s) until it exists before working
set -eu
id=${CONFLUX_CHANGE_ID:?CONFLUX_CHANGE_ID is not set: run me through git conflux}
tick=${DEMO_TICK:-1}
pause=${DEMO_PAUSE:-0}
mode=${DEMO_MODE:-normal}
state=${DEMO_STATE:-${TMPDIR:-/tmp}}
file=${DEMO_FILE:-conflux-demo/$id.txt}

# The prompt arrives on stdin when the preset says so; read it so the writer never blocks,
# and keep the last one in the state directory for whoever wants to see it.
if [ ! -t 0 ]; then cat >"$state/demo-agent-$id.prompt"; fi

tasks=""
for candidate in "openspec/changes/$id/tasks.md" "specs/$id/tasks.md"; do
    if [ -f "$candidate" ]; then tasks=$candidate; break; fi
done
say() {
    if [ "$mode" = json ]; then
        text=$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')
        printf '{"type":"assistant","message":{"content":[{"type":"text","text":"%s"}]}}\n' "$text"
    else
        printf '%s\n' "$1"
    fi
}

if [ -n "${DEMO_WAIT_FOR:-}" ]; then
    waited=0
    while [ ! -e "$DEMO_WAIT_FOR" ] && [ "$waited" -lt 1200 ]; do sleep 0.1; waited=$((waited + 1)); done
fi

runs_file="$state/demo-agent-$id.runs"
runs=$(( $(cat "$runs_file" 2>/dev/null || echo 0) + 1 ))
echo "$runs" >"$runs_file"

case $mode in
    hang) say "thinking about $id…"; exec sleep 100000 ;;
    crash) say "something went wrong" >&2; exit 3 ;;
    ratelimit) if [ "$runs" -eq 1 ]; then echo "API error 429: rate limit exceeded" >&2; exit 1; fi ;;
    spawn) (sleep 100000 &) ;;
    verify-fix) if [ "$runs" -ge 2 ]; then touch VERIFY_OK; fi ;;
esac
[ -n "$tasks" ] || { say "no tasks.md for $id"; exit 0; }
[ "$mode" = noop ] && { say "looked at $tasks, changed nothing"; exit 0; }

ticked=0
while :; do
    [ "$tick" = all ] || [ "$ticked" -lt "$tick" ] || break
    line=$(grep -n -m1 -E '^[[:space:]]*[-*+][[:space:]]+\[ \]' "$tasks" | cut -d: -f1 || true)
    [ -n "$line" ] || break
    text=$(sed -n "${line}p" "$tasks" | sed -E 's/^[[:space:]]*[-*+][[:space:]]+\[ \][[:space:]]*//')
    [ "$pause" = 0 ] || sleep "$pause"
    say "Working on: $text"
    mkdir -p "$(dirname "$file")"
    printf '%s: %s\n' "$id" "$text" >>"$file"
    sed -i "${line}s/\[ \]/[x]/" "$tasks"
    say "Edit $tasks (ticked line $line)"
    ticked=$((ticked + 1))
done
say "done: ticked $ticked task(s) of $id"
if [ "$mode" = json ]; then
    printf '{"type":"result","subtype":"success","is_error":false,"duration_ms":1200,"num_turns":3,"result":"ticked %s","total_cost_usd":0.0125}\n' "$ticked"
fi

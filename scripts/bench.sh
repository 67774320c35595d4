#!/usr/bin/env bash
# Benchmarks. Usage: scripts/bench.sh <section>
#   git          native git layer vs the git CLI on a generated 50,000-file repository
#   merge        `merge --all` of 20 and 100 done changes vs a `git merge` loop over the same
#                branches; one merge with 100 recorded changes vs with 1
#   bigrepo      one change through `start` on 50,000 files vs git worktree add + add -A + commit
#   status       `git conflux status --json` vs `openspec list --json`, 200 changes x 30 tasks,
#                100 recorded runs
#   orchestrate  `git conflux start` on 100 changes, 16 slots, a 1 s agent: makespan, CPU, RSS
#                (CHANGES=20 SLOTS=4 for the small run)
# BIN=path measures a prebuilt binary (merge, bigrepo, status, orchestrate).
#   agent        the runner and stream decoders (criterion: cargo bench --bench agent)
# Each section prints medians of >= 5 runs and the ratios to its baseline.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# On /dev/shm when there is one: this VM's disk swings file creation 10x between runs.
DATA="$ROOT/target/bench-data"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then DATA=/dev/shm/conflux-bench-data; fi
RUNS="${RUNS:-5}"

now_ns() { date +%s%N; }

# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# time_ms <command...>: run once, print elapsed milliseconds (output discarded)
time_ms() {
  local start end
  start=$(now_ns)
  "$@" >/dev/null
  end=$(now_ns)
  echo $(( (end - start) / 1000000 ))
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }

section_git() {
  local repo="$DATA/git-50k" work="$DATA/git-work"
  export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
  export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

  echo "building examples/gitbench (release)…" >&2
  cargo build --quiet --release --example gitbench --manifest-path "$ROOT/Cargo.toml"
  local bench="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/gitbench"

  if [ ! -f "$repo/.generated" ]; then
    echo "generating $repo (50,000 files in 2,000 directories, once)…" >&2
    rm -rf "$repo"
    mkdir -p "$repo"
    git -C "$repo" init -q -b main
    git -C "$repo" config user.name bench
    git -C "$repo" config user.email bench@example.com
    git -C "$repo" config gc.auto 0
    (. "$ROOT/scripts/bench/lib.sh" && bench_tree "$repo/tree")
    git -C "$repo" add -A
    git -C "$repo" commit -q -m "50k files"
    git -C "$repo" checkout -q -b bench-topic
    for d in $(seq 0 99); do
      local dir; dir=$(printf 'd%04d' $((d * 20)))
      echo "topic change $d" >> "$repo/tree/$dir/f00.txt"
    done
    git -C "$repo" commit -q -am "topic: touch 100 files"
    git -C "$repo" checkout -q main
    echo "main moves" > "$repo/MAIN.txt"
    git -C "$repo" add MAIN.txt
    git -C "$repo" commit -q -m "main moves on"
    git -C "$repo" gc -q
    touch "$repo/.generated"
  fi
  rm -rf "$work"
  mkdir -p "$work"
  git -C "$repo" worktree prune

  local git_create=() our_create=() git_dirty=() our_dirty=() git_merge=() our_merge=() floor=()
  local i
  for i in $(seq 1 "$RUNS"); do
    # Worktree creation.
    git_create+=("$(time_ms git -C "$repo" worktree add -q -b "gb-$i" "$work/git-$i" main)")
    our_create+=("$(time_ms "$bench" create "$repo" "ob-$i" "$work/our-$i")")
    # The floor: copying the checked-out files.
    floor+=("$(time_ms cp -a "$repo/tree" "$work/cp-$i")")
    rm -rf "$work/cp-$i"
  done

  # Dirty check on a clean worktree (after one warm-up each).
  git -C "$work/git-1" status --porcelain >/dev/null
  "$bench" dirty "$work/git-1" >/dev/null
  for i in $(seq 1 "$RUNS"); do
    git_dirty+=("$(time_ms git -C "$work/git-1" status --porcelain)")
    our_dirty+=("$(time_ms "$bench" dirty "$work/git-1")")
  done
  [ "$("$bench" dirty "$work/git-1")" = clean ] || { echo "dirty check disagrees: expected clean" >&2; exit 1; }

  # Merge of a branch touching 100 files into a checked-out base, no fast-forward.
  git -C "$repo" worktree add -q -b merge-base "$work/merge" main
  for i in $(seq 1 "$RUNS"); do
    git -C "$work/merge" reset -q --hard main
    git_merge+=("$(time_ms git -C "$work/merge" merge -q --no-ff -m "Merge bench-topic" bench-topic)")
    git -C "$work/merge" reset -q --hard main
    our_merge+=("$(time_ms "$bench" merge "$work/merge" merge-base bench-topic)")
    [ -z "$(git -C "$work/merge" status --porcelain)" ] || { echo "our merge left the worktree dirty" >&2; exit 1; }
  done

  # Clean up the worktrees and branches made here.
  for i in $(seq 1 "$RUNS"); do
    git -C "$repo" worktree remove --force "$work/git-$i"
    git -C "$repo" worktree remove --force "$work/our-$i"
    git -C "$repo" branch -q -D "gb-$i" "ob-$i"
  done
  git -C "$repo" worktree remove --force "$work/merge"
  git -C "$repo" branch -q -D merge-base

  local gc oc gd od gm om fl
  gc=$(median "${git_create[@]}"); oc=$(median "${our_create[@]}")
  gd=$(median "${git_dirty[@]}"); od=$(median "${our_dirty[@]}")
  gm=$(median "${git_merge[@]}"); om=$(median "${our_merge[@]}")
  fl=$(median "${floor[@]}")
  echo "git section: 50,000 files / 2,000 dirs, median of $RUNS runs (ms)"
  printf '%-34s %8s %8s %7s %8s\n' operation git ours ratio target
  printf '%-34s %8s %8s %7s %8s\n' "worktree creation" "$gc" "$oc" "$(ratio "$oc" "$gc")" "<=0.80"
  printf '%-34s %8s %8s %7s %8s\n' "dirty check (clean worktree)" "$gd" "$od" "$(ratio "$od" "$gd")" "<=1.00"
  printf '%-34s %8s %8s %7s %8s\n' "merge --no-ff, 100 files" "$gm" "$om" "$(ratio "$om" "$gm")" "<=0.50"
  printf '%-34s %8s %8s %7s\n' "cp -a of the tree (floor)" "$fl" "-" "$(ratio "$oc" "$fl")x"
  echo "raw create git: ${git_create[*]} | ours: ${our_create[*]}"
  echo "raw dirty  git: ${git_dirty[*]} | ours: ${our_dirty[*]}"
  echo "raw merge  git: ${git_merge[*]} | ours: ${our_merge[*]}"
  echo "raw cp -a: ${floor[*]}"
}

case "${1:-}" in
  git) section_git ;;
  merge) exec "$ROOT/scripts/bench/merge.sh" ;;
  bigrepo) exec "$ROOT/scripts/bench/bigrepo.sh" ;;
  status) exec "$ROOT/scripts/bench/status.sh" ;;
  orchestrate) exec "$ROOT/scripts/bench/orchestrate.sh" ;;
  agent) cd "$ROOT" && exec cargo bench --bench agent ;;
  *)
    echo "usage: $0 <section>   (sections: git, merge, bigrepo, status, orchestrate, agent)" >&2
    exit 2
    ;;
esac

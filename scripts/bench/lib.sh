# Shared by the benchmark scripts (sourced, POSIX sh): the binary to measure, a scratch
# directory on /dev/shm, timing and medians, and the generated repositories.

# The binary: BIN (a prebuilt one, say an older build for a before/after table), else the
# release build of this checkout.
bench_binary() {
    if [ -z "${BIN:-}" ]; then cargo build --release --quiet; fi
    echo "${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/git-conflux}"
}

# bench_workdir NAME: a fresh scratch directory, on /dev/shm when there is one (this VM's disk
# swings file creation 10x between runs); removed by the caller's trap.
bench_workdir() {
    shm=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && shm=/dev/shm
    mktemp -d "${TMPDIR:-$shm}/conflux-$1.XXXXXX"
}

# A hermetic git identity and configuration for every git and conflux command.
bench_git_env() {
    export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b
}

# us COMMAND...: runs it once, output discarded, and prints its wall time in microseconds.
us() {
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    e=$(date +%s%N)
    echo $(((e - s) / 1000))
}

# median < FILE of microseconds: the median in milliseconds.
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }

# report LABEL OURS THEIRS TARGET: both medians and their ratio.
report() {
    printf '  %-44s %10s ms\n  %-44s %10s ms\n' "$1" "$2" "$3" "$4"
    awk -v a="$2" -v b="$4" -v t="$5" 'BEGIN {printf "  ratio %49.3fx (target <= %s)\n", a/b, t}'
}

# bench_changes N: N one-task OpenSpec changes c0..c<N-1> in the current directory.
bench_changes() {
    i=0
    while [ $i -lt "$1" ]; do
        mkdir -p openspec/changes/c$i
        printf '# Change: c%s\n' $i >openspec/changes/c$i/proposal.md
        printf -- '- [ ] the only task\n' >openspec/changes/c$i/tasks.md
        i=$((i + 1))
    done
}

# bench_tree DIR: 50,000 files of 8 lines in 2,000 directories under DIR.
bench_tree() {
    python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(2000):
    path = os.path.join(root, f"d{d:04}")
    os.makedirs(path)
    for f in range(25):
        with open(os.path.join(path, f"f{f:02}.txt"), "w") as out:
            out.write("".join(f"dir {d} file {f} line {i}\n" for i in range(8)))
PY
}

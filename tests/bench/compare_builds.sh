#!/usr/bin/env bash
# Times two builds of canvass on the same workloads in one run, so that a change to the
# code's shape can show it left the speed alone: check (a generated workspace of 1,000
# surveys), render (every format of one of its surveys), report (300,000 imported
# answers), then send (10,000 recipients to the outbox) and serve (one-click answers)
# through their cargo benches with CANVASS_BIN pointing at each build in turn.
#
# OLD and NEW are each a built binary or a git revision (built in a temporary worktree).
# Prints each median and the ratio NEW/OLD (below 1 is faster); stops at the first command
# that fails, with its error. Needs python3 and bc.
#
# Usage: tests/bench/compare_builds.sh OLD NEW [RUNS]
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 OLD NEW [RUNS] (each a binary or a git revision)" >&2; exit 2; }
runs=${3:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"; git -C "$repo" worktree prune' EXIT

# A binary for a revision or a path: a path is used as it is.
binary_of() {
    if [ -x "$1" ] && [ -f "$1" ]; then
        (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")")
        return
    fi
    local tree="$work/build-$2"
    git -C "$repo" worktree add --quiet --detach "$tree" "$1" >&2
    cargo build --release --quiet --manifest-path "$tree/Cargo.toml" --target-dir "$target" >&2
    cp "$target/release/canvass" "$work/canvass-$2"
    echo "$work/canvass-$2"
}

# Both revisions build in one target folder (set CARGO_TARGET_DIR to reuse yours), so the
# dependencies compile once; each binary is copied out before the next build.
target=${CARGO_TARGET_DIR:-$work/target}

old=$(binary_of "$1" old)
new=$(binary_of "$2" new)

# The median wall time of `runs` runs of a command, in seconds.
median() {
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>"$work/failed.txt" || { echo "failed: $*" >&2; cat "$work/failed.txt" >&2; exit 1; }
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# One row: the workload's name, then the command with {bin} standing for the binary and
# {build} for the build's name (old or new).
compare() {
    local name=$1
    shift
    local with_old=("${@//\{bin\}/$old}") with_new=("${@//\{bin\}/$new}")
    with_old=("${with_old[@]//\{build\}/old}")
    with_new=("${with_new[@]//\{build\}/new}")
    local before after
    before=$(median "${with_old[@]}")
    after=$(median "${with_new[@]}")
    printf '%-34s %8s s %8s s   %s\n' "$name" "$before" "$after" "$(echo "scale=2; $after / $before" | bc)"
}

python3 "$repo/tests/bench/gen_workspace.py" "$work/ws" 1000 >/dev/null
first_survey=$(basename "$(ls -d "$work"/ws/surveys/*/ | head -n 1)")
mkdir -p "$work/rendered"

mkdir -p "$work/answers/surveys/bench"
sed -n '/^pub const SURVEY: &str = "/,/^";/p' "$repo/tests/bench/answers_csv.rs" \
    | sed -e '1s/^pub const SURVEY: &str = "//' -e '$d' >"$work/answers/surveys/bench/survey.yaml"
python3 - "$work/answers.csv" 300000 <<'EOF'
import random, sys, datetime
random.seed(7)
start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
with open(sys.argv[1], "w") as out:
    out.write("respondent,submitted_at,rec,sat,locale\n")
    rows = int(sys.argv[2])
    for i in range(rows):
        at = start + datetime.timedelta(seconds=730 * 86400 * i // rows)
        sat = random.choice(["", "1", "2", "3", "4", "5"])
        out.write(f"p{i}@example.com,{at:%Y-%m-%dT%H:%M:%SZ},{random.randint(0, 10)},{sat},{random.choice(['en', 'de'])}\n")
EOF
export CANVASS_KEY=${CANVASS_KEY:-$("$new" key)}
for build in old new; do
    cp -r "$work/answers" "$work/report-$build"
done
"$old" import "$work/answers.csv" --survey bench -w "$work/report-old" >/dev/null
"$new" import "$work/answers.csv" --survey bench -w "$work/report-new" >/dev/null

echo "median of $runs runs            old        new        new/old"
compare "check, 1,000 surveys" {bin} check -w "$work/ws"
compare "render, every format" bash -c "for f in email html slack teams text print; do {bin} render $first_survey --format \$f -w '$work/ws' --out '$work/rendered' || exit 1; done"
compare "report, 300,000 answers" {bin} report bench -w "$work/report-{build}"

if command -v cargo >/dev/null; then
    for build in old new; do
        bin=$old
        [ "$build" = new ] && bin=$new
        echo "== send and serve with the $build build"
        CANVASS_BIN=$bin CANVASS_BENCH_SIZES=10000 cargo bench --quiet --manifest-path "$repo/Cargo.toml" --bench send
        CANVASS_BIN=$bin cargo bench --quiet --manifest-path "$repo/Cargo.toml" --bench serve
    done
fi

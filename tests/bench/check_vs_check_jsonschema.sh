#!/usr/bin/env bash
# Times `canvass check` against check-jsonschema (pip install check-jsonschema) on the same
# generated workspace of 1,000 surveys with distribution rules, and prints the ratio.
# check-jsonschema validates only the schemas; canvass also runs every semantic check.
#
# Usage: tests/bench/check_vs_check_jsonschema.sh [SURVEYS] [RUNS]
set -euo pipefail

surveys=${1:-1000}
runs=${2:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$repo/tests/bench/gen_workspace.py" "$work/ws" "$surveys"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
target=${CARGO_TARGET_DIR:-$repo/target}
canvass="$target/release/canvass"
command -v check-jsonschema >/dev/null || { echo "check-jsonschema is missing: pip install check-jsonschema" >&2; exit 2; }

# The median wall time of `runs` runs of a command, in seconds.
median() {
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

ours=$(median "$canvass" check -w "$work/ws")
theirs=$(median bash -c "check-jsonschema --schemafile '$repo/schemas/survey.schema.json' '$work'/ws/surveys/*/survey.yaml \
    && check-jsonschema --schemafile '$repo/schemas/distribution.schema.json' '$work'/ws/surveys/*/distribution.yaml")

echo "surveys:          $surveys ($((2 * surveys)) files), median of $runs runs"
echo "canvass check:    ${ours} s"
echo "check-jsonschema: ${theirs} s"
echo "ratio:            $(echo "scale=1; $theirs / $ours" | bc)x"

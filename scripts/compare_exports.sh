#!/usr/bin/env bash
# Mine every corpus of ../shared/corpora, the demo mailbox and a big copy of SpamAssassin with two
# `leadminer` commands, and check that `leadminer export --format json` and `--format csv` are
# byte-identical: a speed change must not change any result.
#
#   scripts/compare_exports.sh BEFORE_LEADMINER AFTER_LEADMINER [BIG_FOLDER]
#
# e.g. `git worktree add --detach ../wt-before main && (cd ../wt-before && scripts/bootstrap)`, then
# scripts/compare_exports.sh ../wt-before/.venv/bin/leadminer .venv/bin/leadminer /tmp/mail-8
# (BIG_FOLDER: a folder made by `scripts/bench_whole.py --keep`, optional). Each corpus is mined
# into a fresh database, then all of them one after another into one database (later minings
# refine persons met before). Exit status 1 when any export differs.
set -euo pipefail
before=$1 after=$2 big=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/leadminer-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpora"
for tarball in "$root"/../shared/corpora/*.tar.gz; do tar xzf "$tarball" -C "$work/corpora"; done
cp "$root"/../shared/corpora/*.pst "$work/corpora/" 2>/dev/null || true
sources=("$work"/corpora/*)
[ -n "$big" ] && sources+=("$big")

export_all() {  # command label db
    "$1" export --db "$3" --format json -o "$work/$2.json" >/dev/null
    "$1" export --db "$3" --format csv -o "$work/$2.csv" >/dev/null
}

mine_with() {  # side command
    local side=$1 cmd=$2 source name
    mkdir -p "$work/$side"
    for source in "${sources[@]}"; do
        name=$(basename "$source")
        "$cmd" mine "$source" --db "$work/$side/$name.db" --quiet --json >/dev/null || [ $? -eq 1 ]  # 1: failed messages
        export_all "$cmd" "$side/$name" "$work/$side/$name.db"
        "$cmd" mine "$source" --db "$work/$side/all.db" --quiet --json >/dev/null || [ $? -eq 1 ]
    done
    export_all "$cmd" "$side/all" "$work/$side/all.db"
    "$cmd" demo --db "$work/$side/demo/demo.db" >/dev/null
    export_all "$cmd" "$side/demo" "$work/$side/demo/demo.db"
}

mine_with before "$before"
mine_with after "$after"
status=0
for file in "$work"/before/*.json "$work"/before/*.csv; do
    name=$(basename "$file")
    if cmp -s "$file" "$work/after/$name"; then
        echo "same       $name ($(wc -c <"$file") bytes)"
    else
        echo "DIFFERENT  $name"
        diff <(head -c 200000 "$file") <(head -c 200000 "$work/after/$name") | head -20 || true
        status=1
    fi
done
exit $status

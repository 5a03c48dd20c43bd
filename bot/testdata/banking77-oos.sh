#!/bin/sh
# Builds the out-of-scope variant of the banking77 evaluation: a KB without 10 of the 77
# articles and a questions file in which the left-out articles' questions expect null
# (the bot should escalate them).
#
#   bot/testdata/banking77-oos.sh [EVAL_DIR] [OUT_DIR]
#   concierge kb import --data D OUT_DIR/kb
#   concierge bot test --data D --questions OUT_DIR/questions.jsonl
#
# The left-out articles are fixed, not chosen: every 7th in alphabetical order starting
# with the 4th (SKIP=N picks another set: every 7th starting with the N+1th).
set -eu
src=${1:-../shared/eval/banking77}
out=${2:-/tmp/banking77-oos}
skip=${SKIP:-3}
rm -rf "$out"
mkdir -p "$out/kb"
ls "$src/kb" | sort | sed 's/\.md$//' |
	awk -v s="$skip" 'NR > s && (NR - s - 1) % 7 == 0 && n < 10 { print; n++ }' > "$out/left-out.txt"
for f in "$src"/kb/*.md; do
	id=$(basename "$f" .md)
	grep -qx "$id" "$out/left-out.txt" || cp "$f" "$out/kb/"
done
awk 'NR == FNR { gone["\"" $0 "\""] = 1; next }
	{ if (match($0, /"expect": *"[^"]*"/)) { v = substr($0, RSTART, RLENGTH); sub(/"expect": */, "", v);
	  if (v in gone) sub(/"expect": *"[^"]*"/, "\"expect\": null") } print }' \
	"$out/left-out.txt" "$src/dev.jsonl" > "$out/questions.jsonl"
echo "$(ls "$out/kb" | wc -l) articles in $out/kb; left out: $(tr '\n' ' ' < "$out/left-out.txt")"
echo "$(grep -c '"expect": null' "$out/questions.jsonl") of $(wc -l < "$out/questions.jsonl") questions expect an escalation"

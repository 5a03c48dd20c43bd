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
# with the 4th (SKIP=N picks another set: every 7th starting with the N+1th). QUESTIONS=N
# keeps only the first N sample questions of each article, to see how the bot fares on
# a sparser KB (real KBs have a handful per article, not 117). COUNT=0 leaves none out.
set -eu
src=${1:-../shared/eval/banking77}
out=${2:-/tmp/banking77-oos}
skip=${SKIP:-3}
count=${COUNT:-10}
keepq=${QUESTIONS:-0}
rm -rf "$out"
mkdir -p "$out/kb"
ls "$src/kb" | sort | sed 's/\.md$//' |
	awk -v s="$skip" -v c="$count" 'NR > s && (NR - s - 1) % 7 == 0 && n < c { print; n++ }' > "$out/left-out.txt"
for f in "$src"/kb/*.md; do
	id=$(basename "$f" .md)
	grep -qx "$id" "$out/left-out.txt" && continue
	# Keep the first $keepq entries of the questions list (all when 0).
	awk -v k="$keepq" '/^questions:/ { inq = 1; print; next }
		inq && /^  - / { n++; if (k == 0 || n <= k) print; next }
		{ inq = 0; print }' "$f" > "$out/kb/$id.md"
done
awk 'NR == FNR { gone["\"" $0 "\""] = 1; next }
	{ if (match($0, /"expect": *"[^"]*"/)) { v = substr($0, RSTART, RLENGTH); sub(/"expect": */, "", v);
	  if (v in gone) sub(/"expect": *"[^"]*"/, "\"expect\": null") } print }' \
	"$out/left-out.txt" "$src/dev.jsonl" > "$out/questions.jsonl"
echo "$(ls "$out/kb" | wc -l) articles in $out/kb; left out: $(tr '\n' ' ' < "$out/left-out.txt")"
echo "$(grep -c '"expect": null' "$out/questions.jsonl") of $(wc -l < "$out/questions.jsonl") questions expect an escalation"

#!/usr/bin/env bash
# Codec cost per 20 ms frame, every codec in one run: G.711 (PCMU), G.722
# (pure Go) and Opus (libopus, -tags opus: needs libopus-dev and
# libopusfile-dev), per-stream encoders and decoders, plus Opus's loss
# recovery from in-band FEC. Prints a Markdown table of the medians of
# COUNT (5) runs of BENCHTIME (2000x) each.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(go test -tags opus -run '^$' -bench 'PCMUEncode|PCMUDecode|G722Encode|G722Decode|Opus' \
  -benchtime "${BENCHTIME:-2000x}" -count "${COUNT:-5}" -benchmem ./media/codec/)
[ -n "${KEEP:-}" ] && echo "$out"
echo "| benchmark | ns per 20 ms frame (median) | % of one core per stream | allocs/op |"
echo "|---|---|---|---|"
echo "$out" | awk '/^Benchmark/ {
  name=$1; sub(/-[0-9]+$/, "", name); ns[name]=ns[name] " " $3
  for (i=4; i<=NF; i++) if ($(i)=="allocs/op") al[name]=$(i-1)
  if (!(name in seen)) { seen[name]=1; order[++n]=name }
}
END {
  for (k=1; k<=n; k++) {
    name=order[k]; m=split(substr(ns[name],2), v, " ")
    for (i=1; i<=m; i++) for (j=i+1; j<=m; j++) if (v[j]+0 < v[i]+0) { t=v[i]; v[i]=v[j]; v[j]=t }
    med=v[int((m+1)/2)]
    printf "| %s | %.0f | %.3f | %s |\n", name, med, med/20e6*100, al[name]
  }
}'

#!/usr/bin/env bash
# Go micro-benchmarks of the hot paths: G.711 (ns/sample), resampling
# (x real time), RTP send/receive, jitter buffer, player fan-out, DTMF
# detection, SDP answer. BENCHTIME=2s by default; COUNT=3 for benchstat.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-2s}" -count "${COUNT:-1}" -benchmem \
  ./media/ ./media/dsp/ ./media/sdp/

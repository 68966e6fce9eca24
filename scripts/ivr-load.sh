#!/bin/sh
# ivr-load.sh [N...] — issue 11's benchmark: N concurrent callers (default
# 100 and 500) in the demo menu on loopback, prompts playing. Prints, per
# run, the IVR process's CPU (fraction of one core) and RSS per caller, and
# key-press-to-prompt-stop latency p50/p99 (from the key press's start, and
# from its RFC 4733 end packet, when the IVR learns of the key).
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 100 500
for n in "$@"; do
	IVR_LOAD_CALLERS=$n go test -count=1 -run '^TestLoadDemoMenu$' -v ./apps/ivr/ | grep -E '^IVRLOAD|^--- |load_test.go'
done

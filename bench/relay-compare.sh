#!/usr/bin/env bash
# Same load, same run: CALLS concurrent relayed calls with G.711 both ways,
# first through Switchboard's back-to-back relay, then through Kamailio +
# rtpengine (userspace). Prints both CPU figures and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-500}
ours=$(B2B_CALLS=$CALLS go test -run '^$' -bench RelayedCalls -benchtime 1x ./b2b/ | grep -o '[0-9.]* cpu%/call' | cut -d' ' -f1)
theirs=$(CALLS=$CALLS bench/kamailio-relay.sh | grep -o '[0-9.]*% per call' | tr -d '%' | cut -d' ' -f1)
echo "switchboard b2b relay:  $ours % of a core per call"
echo "kamailio + rtpengine:   $theirs % of a core per call"
awk -v a="$ours" -v b="$theirs" 'BEGIN{ if (b > 0) printf "ratio (switchboard / kamailio+rtpengine): %.2f\n", a/b }'

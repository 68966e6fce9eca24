#!/usr/bin/env bash
# Rate-limiter overhead per request (issue 15): the stateless screen path
# every UDP request crosses (parse, validate, admit) with the per-source
# limiter off and on, in the same run, COUNT times each (default 5); prints
# the median ns/op of each and the ratio on/off, plus the limiter's own
# cost (BenchmarkLimiterAllow). BENCHTIME=1s by default. No network.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'ScreenLimiter|LimiterAllow' -benchtime "${BENCHTIME:-1s}" -count "${COUNT:-5}" -benchmem ./platform/ |
  awk '/^Benchmark/ { n=$1; sub(/-[0-9]+$/, "", n); v[n]=v[n] " " $3 }
    END {
      for (n in v) {
        k=split(substr(v[n],2), a, " ")
        for (i=2; i<=k; i++) for (j=i; j>1 && a[j-1]+0>a[j]+0; j--) { t=a[j]; a[j]=a[j-1]; a[j-1]=t }
        m[n]=a[int((k+1)/2)]; printf "%-44s median %9.1f ns/op  (runs:%s)\n", n, m[n], v[n]
      }
      off=m["BenchmarkScreenLimiter/limiter=off"]; on=m["BenchmarkScreenLimiter/limiter=on"]
      if (off > 0) printf "limiter on/off, one source: %.3f (%+.0f ns per request)\n", on/off, on-off
    }' | sort

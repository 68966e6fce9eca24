#!/bin/sh
# make-default.sh regenerates default.mp3, the embedded hold music: an
# 8-second loop of four soft sine-tone chords (C, Am, F, G; 2 s each, faded
# in and out) over a steady C5 marker tone of 523.25 Hz (DefaultMarkerHz),
# which tests detect. 523.25 Hz × 8 s is exactly 4186 cycles, so the marker
# is phase-continuous at the loop point. Encoded by LAME as 44.1 kHz mono
# CBR 56 kb/s with a LAME tag (written by default), so that media.OpenMP3
# trims encoder delay and padding and the loop is gapless.
#
# Requires SoX 14.4 and LAME 3.100. Run from any directory:
#
#	sh apps/holdmusic/make-default.sh
set -eu
out=$(cd "$(dirname "$0")" && pwd)/default.mp3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# -D: no dither, so the output is reproducible.
chord() { # name freq...
	name=$1
	shift
	spec="sine $1"
	shift
	for f in "$@"; do spec="$spec sine mix $f"; done
	# shellcheck disable=SC2086
	sox -D -n -r 44100 -c 1 -b 16 "$name.wav" synth 2 $spec fade h 0.5 2 0.7 norm -1
}
chord c 261.63 329.63 392.00
chord am 220.00 261.63 329.63
chord f 174.61 220.00 261.63
chord g 196.00 246.94 293.66
sox -D c.wav am.wav f.wav g.wav chords.wav
sox -D -n -r 44100 -c 1 -b 16 marker.wav synth 8 sine 523.25 norm -1
# Marker at -12 dBFS, chords at -18 dBFS: gentle, and the marker dominates
# every 20 ms window.
sox -D -m -v 0.25 marker.wav -v 0.125 chords.wav mix.wav
lame --quiet --noreplaygain -m m -b 56 --resample 44.1 mix.wav "$out"

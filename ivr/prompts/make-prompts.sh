#!/bin/sh
# Regenerates the shared IVR prompts (8 kHz mono 16-bit WAV) with espeak-ng
# and sox. Run it in this directory; the output is committed.
set -e
say() { espeak-ng -s 165 -w /tmp/ivr_$1.wav "$2" && sox /tmp/ivr_$1.wav -r 8000 -c 1 -b 16 $1.wav && rm /tmp/ivr_$1.wav; }
for d in 0 1 2 3 4 5 6 7 8 9; do say $d "$d"; done
say star "star"; say hash "hash"; say orbit "orbit"
say invalid "That is not a valid choice."
say noinput "I did not hear a choice."
say goodbye "Goodbye."
say welcome "Welcome to Switchboard."
say menu "For the echo test, press 1. For music, press 2. To join the conference, press 3. To record a message, press 4. To retrieve a parked call, press 5. To hear these options again, press 0."
say record "Record your message after the beep. Press hash when you are done."
say playback "Here is your message."
say enter_orbit "Enter the orbit, then press hash."
sox -n -r 8000 -c 1 -b 16 beep.wav synth 0.3 sine 1400 vol 0.5

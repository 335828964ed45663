#!/bin/sh
# peers_prequential.sh - bogofilter on the prequential streams docs/benchmarks.md
# reports for modgate (`modgate eval --prequential ... --shuffle 1`).
# Usage: tests/bench/peers_prequential.sh [STREAM.jsonl [SEED [STARTER.jsonl]]]
# With no arguments: the youtube-dev stream (shuffle 1) empty and with the
# sms corpus as a full-weight starter, and the sms stream (shuffle 1) empty.
# Installs Debian's bogofilter when it is missing (needs root or sudo).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../data"
if ! command -v bogofilter >/dev/null 2>&1; then
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y bogofilter >/dev/null
fi
run() { python3 "$here/peers_prequential.py" "$@"; }
if [ $# -gt 0 ]; then
    run "$1" ${2:+--shuffle "$2"} ${3:+--starter "$3"}
    exit
fi
run "$data/youtube-dev.jsonl" --shuffle 1
run "$data/youtube-dev.jsonl" --shuffle 1 --starter "$data/sms.jsonl"
run "$data/sms.jsonl" --shuffle 1

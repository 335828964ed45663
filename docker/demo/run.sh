#!/bin/sh
# run.sh BIN - what `make demo` does: modgate with the example config plus a
# captcha for the site "demo" (its key made once in var/), and the demo
# news CMS in front of it on http://127.0.0.1:8081/. Ctrl-C stops all.
set -eu
BIN=${1:-build/modgate}
sh tests/interop/install.sh            # the altcha widget the page embeds
mkdir -p var
KEY="$(pwd)/var/demo-captcha.key"
if [ ! -s "$KEY" ]; then
    umask 077
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$KEY"
    echo "demo: made a captcha key in var/demo-captcha.key"
fi
python3 - "$KEY" <<'PY'
import json, sys
c = json.load(open("docker/modgate.example.json"))
c["sites"]["demo"]["captcha"] = {
    "keys": [{"id": "demo-1", "secret_file": sys.argv[1]}],
    "origins": ["http://127.0.0.1:8081", "http://localhost:8081"],
    "challenge_from": 0.5, "challenge_to": 0.9}
json.dump(c, open("var/demo.json", "w"), indent=1)
PY
MODGATE_CONFIG=var/demo.json sh docker/run-local.sh "$BIN" &
RUN_PID=$!
trap 'kill -INT $RUN_PID 2>/dev/null; wait $RUN_PID 2>/dev/null; exit 0' INT TERM
i=0
until curl -s -o /dev/null http://127.0.0.1:8080/healthz; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$RUN_PID" 2>/dev/null; then
        echo "demo: modgate did not start" >&2
        exit 1
    fi
    sleep 0.05
done
echo "demo: open http://127.0.0.1:8081/ and post: see http://a.example.com http://b.example.com"
python3 docker/demo/demo_cms.py --modgate http://127.0.0.1:8080 --site demo --key demo-cms-key --port 8081

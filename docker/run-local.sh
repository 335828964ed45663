#!/bin/sh
# run-local.sh BIN - what `make run` does after building: start a private
# redis-server (loopback, data and AOF under ./var/redis) unless
# MODGATE_REDIS_URL is set, then serve in the foreground with the example
# config (or MODGATE_CONFIG). Ctrl-C stops both.
set -eu
BIN=${1:-build/modgate}
CONFIG=${MODGATE_CONFIG:-docker/modgate.example.json}
REDIS_PID=""

cleanup() {
    if [ -n "$REDIS_PID" ]; then
        kill "$REDIS_PID" 2>/dev/null || true   # SIGTERM: Redis flushes its AOF and exits
        wait "$REDIS_PID" 2>/dev/null || true
        echo "run-local: redis-server stopped"
    fi
}
trap cleanup EXIT
trap 'exit 0' INT
trap 'exit 143' TERM

if [ -z "${MODGATE_REDIS_URL:-}" ]; then
    PORT=${MODGATE_LOCAL_REDIS_PORT:-6390}
    mkdir -p var/redis
    if redis-cli -h 127.0.0.1 -p "$PORT" ping >/dev/null 2>&1; then
        echo "run-local: port $PORT already answers as Redis; set MODGATE_REDIS_URL=redis://127.0.0.1:$PORT to use it," >&2
        echo "           or MODGATE_LOCAL_REDIS_PORT to start ours elsewhere" >&2
        exit 1
    fi
    redis-server --bind 127.0.0.1 --port "$PORT" --dir "$(pwd)/var/redis" \
        --appendonly yes --appendfsync everysec --save '' --lazyfree-lazy-expire yes --daemonize no \
        --logfile "$(pwd)/var/redis/redis.log" &
    REDIS_PID=$!
    i=0
    until redis-cli -h 127.0.0.1 -p "$PORT" ping >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$REDIS_PID" 2>/dev/null; then
            echo "run-local: redis-server did not start; see var/redis/redis.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "run-local: private redis-server on 127.0.0.1:$PORT (data in var/redis, AOF on)"
    MODGATE_REDIS_URL="redis://127.0.0.1:$PORT/0"
    export MODGATE_REDIS_URL
fi
echo "run-local: serving with $CONFIG; try: curl -s localhost:8080/readyz"
"$BIN" serve --config "$CONFIG" &
MG_PID=$!
trap 'kill -TERM $MG_PID 2>/dev/null; wait $MG_PID; exit 0' INT
trap 'kill -TERM $MG_PID 2>/dev/null; wait $MG_PID; exit 143' TERM
wait "$MG_PID"

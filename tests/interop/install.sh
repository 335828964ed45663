#!/bin/sh
# install.sh - the npm packages of the interop and browser tests, from
# package-lock.json (npm ci), unless node_modules already holds that lock.
set -eu
cd "$(dirname "$0")"
stamp=node_modules/.modgate-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    echo "installing the interop tests' npm packages (tests/interop)"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
fi

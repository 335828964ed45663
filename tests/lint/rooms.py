#!/usr/bin/env python3
"""rooms.py - `make lint`: service/'s rooms depend downward only.

Every .c/.h file of service/ belongs to a layer, from the bottom: the
shared base (util, log, logline, counters), codec/, config, http/, redis/,
bayes/, captcha/, moderation/, operators/, then check.c, integrations/
(adapters that speak other systems' protocols through check.c), routes.c
and main.c. A file may include headers of its own layer and of the layers
below it, never of one above (docs/architecture.md). Prints each
offending include and exits 1 when there is one."""
import glob
import os
import re
import sys

ORDER = ["base", "codec", "config", "http", "redis", "bayes", "captcha", "moderation", "operators",
         "check", "integrations", "routes", "main"]
TOP = {"config", "check", "routes", "main"}


def layer(path):
    parts = path.split("/")
    if len(parts) > 2:
        return parts[1]
    name = parts[1].rsplit(".", 1)[0]
    return name if name in TOP else "base"


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.chdir(root)
    files = [f for f in glob.glob("service/**/*.[ch]", recursive=True) if "/tools/" not in f]
    by_name = {os.path.basename(f): f for f in files}
    bad = []
    for f in files:
        unknown = layer(f) not in ORDER
        for n, line in enumerate(open(f, encoding="utf-8"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            target = by_name.get(os.path.basename(m.group(1))) if m else None
            if not target:
                continue
            if unknown or layer(target) not in ORDER:
                bad.append("%s:%d: a room not in tests/lint/rooms.py's ORDER" % (f, n))
            elif ORDER.index(layer(target)) > ORDER.index(layer(f)):
                bad.append("%s:%d: %s (%s) includes %s of %s, a room above it" % (
                    f, n, f, layer(f), m.group(1), layer(target)))
    for b in bad:
        print(b)
    if bad:
        print("rooms depend downward only (docs/architecture.md)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A tiny demo news CMS: one article with a comment form, in front of modgate.

    python3 docker/demo/demo_cms.py --modgate http://127.0.0.1:8080 --site demo \\
        --key demo-cms-key --altcha-js tests/interop/node_modules/altcha/dist/main/altcha.js

It shows what a real CMS does with modgate's answers. Every comment goes to
POST /v1/check. A `challenge` answer renders the form again with the ALTCHA
widget, holding the challenge modgate sent. The resubmission carries the
widget's field as `captcha`, and the page shows the final decision. The
browser test (tests/integration/test_altcha_interop.py) drives this page in
headless Chromium. Standard library only; it binds to loopback."""
import argparse
import html
import http.server
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harbour plan approved - Demo News</title>
<script type="module" src="/altcha.js"></script>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:2em auto;padding:0 1em}}
.note{{padding:.6em 1em;border-radius:6px;background:#eef}} .accept{{background:#e6f6e6}}
.reject{{background:#fbe3e3}} .hold{{background:#fff4d6}} textarea{{width:100%;height:6em}}</style>
</head><body>
<article><h1>Harbour plan approved</h1>
<p>The council voted 7 to 2 on Tuesday to rebuild the old harbour wall.</p></article>
<section id="comments"><h2>Comments</h2>{notice}
<form method="post" action="/comment" id="comment-form">
<input type="hidden" name="id" value="{cid}">
<p><label>Name <input name="name" value="{name}"></label></p>
<p><label>Please enter your comment<br><textarea name="body">{body}</textarea></label></p>
{widget}<p><button type="submit" id="post">Post comment</button></p>
</form></section></body></html>"""

WIDGET = """<altcha-widget name="altcha" challenge="{challenge}"></altcha-widget>"""


class Demo(http.server.BaseHTTPRequestHandler):
    cfg = None

    def log_message(self, fmt, *args):  # quiet: the test reads stdout
        pass

    def send(self, status, body, ctype="text/html; charset=utf-8"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def page(self, notice="", widget="", cid=None, name="", body=""):
        return PAGE.format(notice=notice, widget=widget, cid=html.escape(cid or str(uuid.uuid4())),
                           name=html.escape(name), body=html.escape(body))

    def do_GET(self):
        if self.path == "/altcha.js":
            with open(self.cfg.altcha_js, "rb") as f:
                return self.send(200, f.read(), "text/javascript")
        if self.path != "/":
            return self.send(404, "not found", "text/plain")
        # The first form has no widget: most readers are never asked for one.
        self.send(200, self.page())

    def do_POST(self):
        if self.path != "/comment":
            return self.send(404, "not found", "text/plain")
        n = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(n).decode(), keep_blank_values=True).items()}
        req = {"site": self.cfg.site,
               "comment": {"id": form.get("id") or str(uuid.uuid4()), "body": form.get("body", "")},
               "author": {"name": form.get("name") or None},
               "client": {"ip": self.client_address[0], "user_agent": self.headers.get("User-Agent")}}
        if form.get("altcha"):
            req["captcha"] = form["altcha"]
        st, answer = self.check(req)
        if st != 200:
            notice = '<p class="note reject" data-decision="error">modgate said %d: %s</p>' % (
                st, html.escape(json.dumps(answer)))
            return self.send(200, self.page(notice))
        d = answer["decision"]
        reasons = " ".join(r["code"] for r in answer["reasons"])
        if d == "challenge":
            notice = ('<p class="note" data-decision="challenge">Please confirm you are a person, '
                      'then post again.</p>')
            widget = WIDGET.format(challenge=html.escape(json.dumps(answer["challenge"])))
            return self.send(200, self.page(notice, widget, req["comment"]["id"], form.get("name", ""),
                                            form.get("body", "")))
        text = {"accept": "Your comment is published.", "hold": "Your comment waits for a moderator.",
                "reject": "Your comment was not published."}[d]
        notice = '<p class="note %s" data-decision="%s" data-reasons="%s" data-score="%s">%s</p>' % (
            d, d, html.escape(reasons), answer["score"], text)
        self.send(200, self.page(notice))

    def check(self, req):
        r = urllib.request.Request(self.cfg.modgate + "/v1/check", data=json.dumps(req).encode(),
                                   headers={"Content-Type": "application/json",
                                            "Authorization": "Bearer " + self.cfg.key})
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modgate", default="http://127.0.0.1:8080")
    ap.add_argument("--site", default="demo")
    ap.add_argument("--key", default=os.environ.get("MODGATE_DEMO_KEY", "demo-cms-key"))
    ap.add_argument("--altcha-js", default="tests/interop/node_modules/altcha/dist/main/altcha.js")
    ap.add_argument("--port", type=int, default=8081)
    a = ap.parse_args()
    if not os.path.exists(a.altcha_js):
        sys.exit("no %s: run `npm ci --prefix tests/interop` first" % a.altcha_js)
    Demo.cfg = a
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Demo)
    print("demo CMS on http://127.0.0.1:%d/ (modgate %s, site %s)" % (a.port, a.modgate, a.site), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

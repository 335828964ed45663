"""wordpress.py - a real WordPress on a real MariaDB, for the plugin's tests.

Debian's packages (`wordpress`, `wordpress-theme-twentytwentythree`,
`php-cli`, `php-mysql`, `mariadb-server`: `make test` installs them) are
used as installed, and nothing is written outside the test's temp dir:

- MariaDB: `mariadb-install-db` into TMP/mariadb, then `mariadbd` on a free
  loopback port and a socket in the same dir, with a database and a
  password user for WordPress (root's socket login only creates them).
- WordPress: a private document root TMP/wp whose entries are symlinks to
  /usr/share/wordpress, except its own wp-config.php and wp-content/
  (theme symlinked from Debian's package, the plugin installed from
  build/modgate-wordpress.zip by WordPress's own Plugin_Upgrader, as
  "Upload Plugin" does, test scaffolding in wp-content/mu-plugins/).
  With plugin="akismet", Debian's Akismet 5.0.2 is activated instead
  (test_wordpress_akismet.py), with must-use plugins the test names.
  Core files compute paths from their real location (PHP resolves
  symlinks in __DIR__), so ABSPATH is defined first, by an
  auto_prepend_file for the web server and by the CLI scripts: then
  wp-load.php reads our wp-config.php.
- The web server is `php -S` with PHP_CLI_SERVER_WORKERS=4, so that a
  request WordPress makes to itself does not wait on its own worker.
- WordPress is installed by wp_install() from a PHP CLI script, not the
  web installer; WP-Cron is off (DISABLE_WP_CRON): tests run cron hooks
  by CLI (`wp.php("do_action('modgate_cron');")`).
- WP_HTTP_BLOCK_EXTERNAL is on and WP_ACCESSIBLE_HOSTS unset: WordPress
  reaches no host but its own (127.0.0.1, where modgate listens too).

Processes are started by the harness and stopped by their PID.
"""
import html
import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import ROOT, Service, base_config, free_port, no_starter, run_tests, start, wait_until

WP_CORE = "/usr/share/wordpress"
THEME = "twentytwentythree"
PLUGIN_ZIP = os.path.join(ROOT, "build", "modgate-wordpress.zip")
ADMIN = ("admin", "admin-pass-0123456789")
EDITOR = ("editor", "editor-pass-0123456789")
AUTHOR = ("author", "author-pass-0123456789")
DEB_PACKAGES = ("wordpress", "wordpress-theme-twentytwentythree", "php-cli", "php-mysql", "mariadb-server")


def missing():
    """What this machine lacks to run WordPress tests; printed as one
    failure with the summary line by the caller. [] when nothing."""
    need = [WP_CORE + "/wp-load.php", WP_CORE + "/wp-content/themes/" + THEME + "/style.css"]
    out = [p for p in need if not os.path.exists(p)]
    out += [b for b in ("php", "mariadbd", "mariadb-install-db", "mariadb") if not shutil.which(b)]
    return out


# Comments modgate's test config (harness.base_config) decides the same
# way every time: accept; hold (too_many_links: 3 links, the limit is 2);
# reject (blocked_word). %d makes each one new (no duplicate detector).
CLEAN = "Thanks for the piece on the budget vote, the table on page %d was new to me."
HELD = ("Three sources for the budget figures: http://a.example.com/x, http://b.example.com/y "
        "and http://c.example.com/z, all worth a read (%d).")
BLOCKED = "Best casino bonus in town, come and see number %d"
_count = [0]


def unique():
    """A number not used before in this process, for CLEAN % unique()."""
    _count[0] += 1
    return _count[0]


# ---- modgate as a test of a WordPress site sees it ------------------------

def metric(svc, route, key):
    """modgate's answered requests on 'route' (all methods and statuses),
    from /metrics read with admin 'key'."""
    st, text, _ = svc.request("GET", "/metrics", key=key, raw=True)
    assert st == 200, st
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.decode().splitlines()
               if line.startswith("modgate_http_requests_total{") and 'route="%s"' % route in line)


def model(svc, site, key):
    """The site's model counts (nspam, nham), read with moderator 'key'."""
    st, m, _ = svc.request("GET", "/v1/sites/%s/model" % site, key=key)
    assert st == 200, m
    return m["nspam"], m["nham"]


def held_ids(svc, site, key):
    """The ids in the site's held queue."""
    st, q, _ = svc.request("GET", "/v1/sites/%s/queue?state=held&limit=100" % site, key=key)
    assert st == 200, q
    return [i["id"] for i in q["items"]]


def modgate_item(svc, site, mid, key):
    """modgate's stored comment 'mid' of the site."""
    st, item, _ = svc.request("GET", "/v1/sites/%s/comments/%s" % (site, mid), key=key)
    assert st == 200, item
    return item


class MariaDB:
    """A throwaway mariadbd in tmp/mariadb on a free loopback port."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "mariadb")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "mysqld.sock")
        self.port = free_port()
        self.proc = None
        self.user, self.password, self.db = "wp", "wp-db-pass-0123456789", "wordpress"

    def _server_args(self):
        # root in CI: mariadbd refuses to run as root unless told to
        user = ["--user=root"] if os.geteuid() == 0 else []
        # a small redo log and buffer pool: a test database is tiny
        return ["--no-defaults"] + user + ["--datadir=" + self.data, "--innodb-log-file-size=8M",
                                           "--innodb-buffer-pool-size=32M", "--skip-name-resolve"]

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        log = os.path.join(self.dir, "install.log")
        with open(log, "wb") as f:
            subprocess.run(["mariadb-install-db"] + self._server_args() +
                           ["--auth-root-authentication-method=socket", "--skip-test-db"],
                           stdout=f, stderr=f, check=True, timeout=120)
        self.proc = subprocess.Popen(["mariadbd"] + self._server_args() +
                                     ["--socket=" + self.sock, "--port=%d" % self.port, "--bind-address=127.0.0.1",
                                      "--pid-file=" + os.path.join(self.dir, "mysqld.pid"),
                                      "--log-error=" + os.path.join(self.dir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: self.proc.poll() is not None or self._sql_ok("SELECT 1"), 30, 0.05) \
                or self.proc.poll() is not None:
            raise RuntimeError("mariadbd did not start:\n" + self.errlog())
        self.sql("CREATE DATABASE %s CHARACTER SET utf8mb4; CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'; "
                 "GRANT ALL ON %s.* TO '%s'@'127.0.0.1';" % (self.db, self.user, self.password, self.db, self.user))

    def errlog(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def sql(self, statements):
        """Run SQL as root over the socket; its output (tab-separated)."""
        p = subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + self.sock, "-N", "-B",
                            "-e", statements], capture_output=True, text=True, timeout=30)
        if p.returncode:
            raise RuntimeError("mariadb: " + p.stderr)
        return p.stdout

    def _sql_ok(self, s):
        try:
            self.sql(s)
            return True
        except RuntimeError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


WP_CONFIG = r"""<?php
/* wp-config.php of a test WordPress (tests/integration/wordpress.py). */
define( 'DB_NAME', %(db)s );
define( 'DB_USER', %(user)s );
define( 'DB_PASSWORD', %(password)s );
define( 'DB_HOST', %(host)s );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
%(salts)s
$table_prefix = 'wp_';
define( 'WP_HOME', %(url)s );
define( 'WP_SITEURL', %(url)s );
define( 'WP_CONTENT_DIR', %(content)s );
define( 'WP_CONTENT_URL', %(url)s . '/wp-content' );
define( 'DISABLE_WP_CRON', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_AUTO_UPDATE_CORE', false );
define( 'FS_METHOD', 'direct' );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', %(debuglog)s );
define( 'WP_DEBUG_DISPLAY', false );
/* What a test wants to set for a while (MODGATE_* constants). */
if ( file_exists( %(extra)s ) ) {
	require %(extra)s;
}
require_once ABSPATH . 'wp-settings.php';
"""

# Test scaffolding (not part of the plugin): records every e-mail
# WordPress would send, as one JSON line each, instead of sending it;
# turns off core's 15-second comment flood check, since every test
# comment comes from 127.0.0.1; lets readers comment through the REST API
# without an account (a site's choice, off by default).
MU_PLUGIN = r"""<?php
/* Plugin Name: modgate test scaffolding (tests/integration/wordpress.py) */
add_filter( 'pre_wp_mail', function ( $r, $atts ) {
	file_put_contents( %(mails)s, wp_json_encode( array( 'to' => $atts['to'], 'subject' => $atts['subject'],
		'message' => $atts['message'] ) ) . "\n", FILE_APPEND | LOCK_EX );
	return true;
}, 10, 2 );
add_filter( 'comment_flood_filter', '__return_false', 99 );
add_filter( 'rest_allow_anonymous_comments', '__return_true' );
"""

CLI = r"""<?php
/* Runs PHP code read from stdin inside WordPress; prints its return value as JSON. */
define( 'ABSPATH', %(abspath)s );
$_SERVER['HTTP_HOST']   = %(host)s;
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
if ( getenv( 'WP_CLI_INSTALLING' ) ) {
	define( 'WP_INSTALLING', true );
}
require ABSPATH . 'wp-load.php';
require_once ABSPATH . 'wp-admin/includes/admin.php';
$modgate_cli_result = eval( stream_get_contents( STDIN ) );
echo "\n@@JSON@@" . wp_json_encode( $modgate_cli_result );
"""


def php_str(s):
    """A PHP single-quoted string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class WordPress:
    """A WordPress site in tmp/wp, on MariaDB, served by php -S."""

    def __init__(self, tmp, settings, plugin="modgate", mu_plugins=()):
        """'settings': the plugin's option modgate_settings, set once
        the plugin is active (url, site, key, ...). 'plugin' "akismet":
        Debian's Akismet 5.0.2 is activated instead and 'settings' are
        options to set (wordpress_api_key, ...). 'mu_plugins': files
        copied into wp-content/mu-plugins/."""
        self.plugin, self.mu_plugins = plugin, mu_plugins
        self.tmp = tmp
        self.root = os.path.join(tmp, "wp")
        self.content = os.path.join(self.root, "wp-content")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.debuglog = os.path.join(tmp, "wp-debug.log")
        self.mails_path = os.path.join(tmp, "wp-mails.jsonl")
        self.extra = os.path.join(tmp, "wp-extra-config.php")
        self.prepend = os.path.join(tmp, "wp-prepend.php")
        self.cli = os.path.join(tmp, "wp-cli.php")
        self.settings = settings
        self.db = MariaDB(tmp)
        self.proc = None
        self.timings = {}

    # ---- setup ----------------------------------------------------------

    def start(self):
        t0 = time.monotonic()
        if self.plugin == "modgate":
            subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "wordpress-plugin"], check=True,
                           stdout=subprocess.DEVNULL, timeout=300)
        self.db.start()
        t1 = time.monotonic()
        self._docroot()
        self.php(r"""
            require_once ABSPATH . 'wp-admin/includes/upgrade.php';
            wp_install( 'modgate test', %s, 'admin@example.org', true, '', %s );
            return true;""" % (php_str(ADMIN[0]), php_str(ADMIN[1])), installing=True)
        t2 = time.monotonic()
        self.php(r"""
            switch_theme( %(theme)s );
            update_option( 'comment_previously_approved', 0 ); // modgate's accept shows as approved
            update_option( 'moderation_notify', 1 );
            update_option( 'show_avatars', 0 ); // Gravatar is not reachable offline
            foreach ( array( array( %(e)s, %(ep)s, 'editor' ), array( %(a)s, %(ap)s, 'author' ) ) as $u ) {
                $id = wp_insert_user( array( 'user_login' => $u[0], 'user_pass' => $u[1], 'role' => $u[2],
                    'user_email' => $u[0] . '@example.org', 'display_name' => ucfirst( $u[0] ) ) );
                if ( is_wp_error( $id ) ) { throw new Exception( $id->get_error_message() ); }
            }
            if ( 'akismet' === %(plugin)s ) {
                $r = activate_plugin( 'akismet/akismet.php' );
                if ( is_wp_error( $r ) ) { throw new Exception( $r->get_error_message() ); }
                foreach ( json_decode( %(settings)s, true ) as $k => $v ) { update_option( $k, $v ); }
                return true;
            }
            // Installed as "Plugins > Add New > Upload Plugin" does it
            require_once ABSPATH . 'wp-admin/includes/class-wp-upgrader.php';
            $up = new Plugin_Upgrader( new Automatic_Upgrader_Skin() );
            $ok = $up->install( %(zip)s );
            if ( true !== $ok ) { throw new Exception( 'plugin install failed: ' . print_r( $up->skin->get_upgrade_messages(), true ) ); }
            $r = activate_plugin( 'modgate/modgate.php' );
            if ( is_wp_error( $r ) ) { throw new Exception( $r->get_error_message() ); }
            update_option( 'modgate_settings', json_decode( %(settings)s, true ) );
            return true;""" % {"theme": php_str(THEME), "e": php_str(EDITOR[0]), "ep": php_str(EDITOR[1]),
                               "a": php_str(AUTHOR[0]), "ap": php_str(AUTHOR[1]), "zip": php_str(PLUGIN_ZIP),
                               "settings": php_str(json.dumps(self.settings)), "plugin": php_str(self.plugin)})
        t3 = time.monotonic()
        self._serve()
        t4 = time.monotonic()
        self.timings = {"mariadb": t1 - t0, "install": t2 - t1, "plugin": t3 - t2, "serve": t4 - t3,
                        "total": t4 - t0}

    def _docroot(self):
        os.makedirs(self.root)
        for name in os.listdir(WP_CORE):
            if name not in ("wp-config.php", "wp-content", ".htaccess"):
                os.symlink(os.path.join(WP_CORE, name), os.path.join(self.root, name))
        for d in ("themes", "plugins", "mu-plugins", "uploads", "upgrade"):
            os.makedirs(os.path.join(self.content, d))
        os.symlink(os.path.join(WP_CORE, "wp-content", "themes", THEME), os.path.join(self.content, "themes", THEME))
        os.symlink(os.path.join(WP_CORE, "wp-content", "plugins", "akismet"),
                   os.path.join(self.content, "plugins", "akismet"))
        with open(os.path.join(self.content, "mu-plugins", "modgate-test-scaffolding.php"), "w") as f:
            f.write(MU_PLUGIN % {"mails": php_str(self.mails_path)})
        for path in self.mu_plugins:
            shutil.copy(path, os.path.join(self.content, "mu-plugins"))
        salts = "".join("define( '%s', '%s' );\n" % (k, os.urandom(24).hex()) for k in (
            "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT",
            "LOGGED_IN_SALT", "NONCE_SALT"))
        with open(os.path.join(self.root, "wp-config.php"), "w") as f:
            f.write(WP_CONFIG % {"db": php_str(self.db.db), "user": php_str(self.db.user),
                                 "password": php_str(self.db.password),
                                 "host": php_str("127.0.0.1:%d" % self.db.port), "salts": salts,
                                 "url": php_str(self.url), "content": php_str(self.content),
                                 "debuglog": php_str(self.debuglog), "extra": php_str(self.extra)})
        with open(self.prepend, "w") as f:
            f.write("<?php define( 'ABSPATH', %s );\n" % php_str(self.root + "/"))
        with open(self.cli, "w") as f:
            f.write(CLI % {"abspath": php_str(self.root + "/"), "host": php_str("127.0.0.1:%d" % self.port)})

    def _serve(self):
        env = dict(os.environ, PHP_CLI_SERVER_WORKERS="4")
        self.serverlog = open(os.path.join(self.tmp, "wp-server.log"), "ab")
        self.proc = subprocess.Popen(["php", "-d", "auto_prepend_file=" + self.prepend, "-d", "display_errors=0",
                                      "-S", "127.0.0.1:%d" % self.port, "-t", self.root],
                                     stdout=self.serverlog, stderr=self.serverlog, env=env, cwd=self.root,
                                     start_new_session=True)

        def up():
            try:
                return self.get("/wp-login.php")[0] == 200
            except OSError:
                return False
        if not wait_until(lambda: self.proc.poll() is not None or up(), 20, 0.05) or self.proc.poll() is not None:
            raise RuntimeError("php -S did not start")

    def stop(self):
        """Stop php -S and its workers (its own process group: the
        workers outlive a parent that is stopped alone), then MariaDB."""
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.serverlog.close()
        self.proc = None
        self.db.stop()

    # ---- PHP inside WordPress --------------------------------------------

    def php(self, code, installing=False):
        """Run PHP 'code' (statements ending in a return) inside WordPress
        by CLI; its return value, decoded from JSON. An exception or a
        fatal error fails with PHP's output."""
        env = dict(os.environ)
        if installing:
            env["WP_CLI_INSTALLING"] = "1"
        p = subprocess.run(["php", "-d", "display_errors=stderr", self.cli], input=code, capture_output=True,
                           text=True, timeout=120, env=env)
        out = p.stdout
        if p.returncode != 0 or "@@JSON@@" not in out:
            raise RuntimeError("php failed (%d):\n%s\n%s" % (p.returncode, out[-3000:], p.stderr[-3000:]))
        return json.loads(out.rsplit("@@JSON@@", 1)[1])

    def new_post(self, title):
        return self.php("""return wp_insert_post( array( 'post_title' => %s, 'post_content' => 'Story text.',
            'post_status' => 'publish', 'post_author' => 1 ) );""" % php_str(title))

    def comment(self, cid):
        """The comment's status (approved, unapproved, spam, trash) and its meta."""
        return self.php("""$c = get_comment( %d );
            if ( ! $c ) { return null; }
            $m = array();
            foreach ( get_comment_meta( $c->comment_ID ) as $k => $v ) { $m[ $k ] = $v[0]; }
            return array( 'status' => wp_get_comment_status( $c ), 'content' => $c->comment_content,
                'meta' => $m, 'ip' => $c->comment_author_IP );""" % int(cid))

    def comment_id_by_content(self, text):
        return self.php("""global $wpdb;
            return (int) $wpdb->get_var( $wpdb->prepare( "SELECT comment_ID FROM $wpdb->comments
                WHERE comment_content = %%s ORDER BY comment_ID DESC LIMIT 1", %s ) );""" % php_str(text))

    def set_settings(self, **changes):
        self.settings.update(changes)
        self.php("update_option( 'modgate_settings', json_decode( %s, true ) ); return true;"
                 % php_str(json.dumps(self.settings)))

    def mails(self):
        try:
            with open(self.mails_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def debug_lines(self, needle):
        """Lines of WordPress's debug log holding 'needle'."""
        try:
            with open(self.debuglog, errors="replace") as f:
                return [line for line in f if needle in line]
        except FileNotFoundError:
            return []

    # ---- HTTP -------------------------------------------------------------

    def session(self):
        return Browser(self)

    def get(self, path):
        return self.session().get(path)


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects, so a
    test sees WordPress's own 302s (as a browser sends a form)."""

    def __init__(self, wp):
        self.wp = wp
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(NoRedirect(), urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, method, path, data=None, headers=None):
        url = path if path.startswith("http") else self.wp.url + path
        body = urllib.parse.urlencode(data).encode() if isinstance(data, (dict, list)) else data
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            r = self.opener.open(req, timeout=60)
        except urllib.error.HTTPError as e:
            r = e
        text = r.read().decode("utf-8", "replace")
        return r.status if hasattr(r, "status") else r.code, text, {k.lower(): v for k, v in r.headers.items()}

    def get(self, path, headers=None):
        return self.request("GET", path, None, headers)

    def post(self, path, data, headers=None):
        return self.request("POST", path, data, headers)

    def login(self, user):
        self.jar.set_cookie(http.cookiejar.Cookie(0, "wordpress_test_cookie", "WP Cookie check", None, False,
                                                  "127.0.0.1", False, False, "/", True, False, None, False,
                                                  None, None, {}))
        st, text, h = self.post("/wp-login.php", {"log": user[0], "pwd": user[1], "testcookie": "1",
                                                  "redirect_to": self.wp.url + "/wp-admin/"})
        assert st == 302 and "/wp-admin" in h.get("location", ""), (st, text[-2000:])
        return self

    def form_fields(self, page, form_id="commentform"):
        """The named inputs of the form 'form_id' on 'page' (HTML), as a
        browser would send them: hidden fields with their values."""
        m = re.search(r'<form[^>]*id="%s".*?</form>' % form_id, page, re.S)
        assert m, "no form #%s on the page" % form_id
        fields = {}
        for tag in re.findall(r"<(?:input|textarea)\b[^>]*>", m.group(0)):
            name = re.search(r"""\bname=(["'])(.*?)\1""", tag)
            if not name or re.search(r"""type=["'](?:submit|checkbox)""", tag):
                continue
            value = re.search(r"""\bvalue=(["'])(.*?)\1""", tag)
            fields[html.unescape(name.group(2))] = html.unescape(value.group(2)) if value else ""
        return fields

    def post_comment(self, post_id, text, author="Reader", email="reader@example.org", url="", headers=None,
                     extra=None):
        """Open the post, fill its comment form as a reader does and send
        it to /wp-comments-post.php. Returns (status, body, headers,
        comment id or None)."""
        st, page, _ = self.get("/?p=%d" % post_id)
        assert st == 200, st
        fields = self.form_fields(page)
        fields.update({"comment": text, "author": author, "email": email, "url": url})
        if "author" not in self.form_fields(page):  # a logged-in user's form has no name fields
            for k in ("author", "email", "url"):
                fields.pop(k)
        fields.update(extra or {})
        st, body, h = self.post("/wp-comments-post.php", fields, headers)
        m = re.search(r"#comment-(\d+)", h.get("location", ""))
        cid = int(m.group(1)) if m else (self.wp.comment_id_by_content(text) or None)
        return st, body, h, cid

    def admin_list(self, status="all"):
        """wp-admin's comment list (all, moderated, spam, ...)."""
        st, page, _ = self.get("/wp-admin/edit-comments.php?comment_status=%s" % status)
        assert st == 200, st
        return page

    def click(self, href):
        """Follow a nonce'd wp-admin link, which answers with a redirect."""
        st, body, _ = self.get(href if href.startswith("http") else "/wp-admin/" + href)
        assert st == 302, (st, body[-800:])

    def admin_link(self, page, action, cid):
        """The href of a comment row's action link (spam, unspam, approve)
        in wp-admin's comment list, nonce included."""
        for href in re.findall(r'href="([^"]*comment\.php\?[^"]*)"', page):
            href = html.unescape(href)
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
            if q.get("action") == [action] and q.get("c") == [str(cid)]:
                return href
        raise AssertionError("no %s link for comment %d" % (action, cid))


def main(globs, ctx, configure, make_wp, what="plugin"):
    """A WordPress test file's main: modgate with harness.base_config
    changed by configure(config, tmp), the WordPress make_wp(service)
    returns, every test_* of 'globs' against them (ctx["svc"], ctx["wp"]),
    then everything stopped. Returns the exit status."""
    lack = missing()
    if lack:
        print("FAIL missing %s: `make test` installs them (Debian's %s)" % (lack, " ".join(DEB_PACKAGES)))
        print("0 passed, 1 failed")
        return 1
    t0 = time.monotonic()
    only = start(ctx)
    tmp, r = ctx["tmp"], ctx["redis"]
    c = base_config(r.port)
    configure(c, tmp)
    no_starter(c)  # where each comment lands comes from the rules alone
    s = Service(ctx["bin"], tmp, c)
    s.start()
    ctx["svc"] = s
    w = ctx["wp"] = make_wp(s)
    try:
        w.start()
        print("     setup: MariaDB %.2f s, WordPress install %.2f s, %s %.2f s, php -S %.2f s; total %.2f s"
              % (w.timings["mariadb"], w.timings["install"], what, w.timings["plugin"], w.timings["serve"],
                 time.monotonic() - t0))
        rc = run_tests(globs, s, r, only)
    finally:
        w.stop()
        s.stop()
        r.stop()
    print("     test file total %.1f s" % (time.monotonic() - t0))
    return rc

// modgate's moderator page: the held queue of one site, decided by mouse or
// keyboard through modgate's own API (api.md §2.8). No library, no build.
// Comment text is only ever put in the page as text (textContent, text
// nodes): a comment holding <script> or <img onerror> stays inert, and the
// Content-Security-Policy modgate serves this page with forbids inline
// scripts as well. The focused comment's card shows its author's history
// and lets the moderator trust or ban the author (api.md §2.15). The
// "reported" tab lists published comments readers reported (api.md §2.16),
// each card with its reports (how many, why, the readers' last notes).
'use strict';

const STATES = ['held', 'approved', 'rejected', 'spam', 'reported'];
const ACTIONS = { a: 'approve', r: 'reject', s: 'spam', h: 'ham' };
// The action that puts a comment back into each state (for undo). Nothing
// puts a comment back into "reported" (readers do): the API's undo of a
// decision on a reported comment is a hold, which moves it to "held".
const BACK = { held: 'hold', approved: 'approve', rejected: 'reject', spam: 'spam', reported: 'hold' };
const PAGE = 50;
const POLL_MS = 10000;
// The author statuses the author keys set (Shift+t, Shift+b, Shift+n).
const AUTHOR_KEYS = { T: 'trusted', B: 'banned', N: 'normal' };
const DETAIL_MS = 30000;  // a comment's author history is read again after this long
const DETAIL_WAIT_MS = 120; // j/k held down reads no history for the comments passed
const CONFIRM_MS = 3000;  // a ban waits this long for its confirming B

const $ = (id) => document.getElementById(id);
const ui = {};
let key = sessionStorage.getItem('mg_key') || '';
let me = null;
let view = { site: '', state: 'held', reason: '', thread: '', order: 'oldest', page: 'queue' };
let items = [];          // the comments shown, in order
let cursor = null;       // next_cursor of the last page
let current = -1;        // index of the focused comment
let anchor = -1;         // where a shift-selection started
const selected = new Set();
let last = null;         // the last action, for undo: [{id, from, to}]
let busy = false;
let loadSeq = 0;

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || ('HTTP ' + status));
    this.status = status;
    this.code = body && body.error ? body.error.code : '';
    this.body = body;
  }
}

async function api(method, path, body) {
  const opt = { method, headers: { Authorization: 'Bearer ' + key } };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opt);
  } catch (e) {
    throw new ApiError(0, { error: { code: 'network', message: 'modgate cannot be reached: ' + e.message } });
  }
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (!r.ok) throw new ApiError(r.status, j);
  return j;
}

function show(el, on) { el.hidden = !on; }

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function toast(msg) {
  ui.toast.textContent = msg;
  show(ui.toast, true);
  clearTimeout(toast.t);
  toast.t = setTimeout(() => show(ui.toast, false), 4000);
}

function fail(e) {
  ui.error.textContent = e.message;
  show(ui.error, true);
}

// ---------- sign in ----------

async function signIn(k) {
  key = k;
  ui.signinError.hidden = true;
  try {
    me = await api('GET', '/v1/whoami');
  } catch (e) {
    key = '';
    sessionStorage.removeItem('mg_key');
    ui.signinError.textContent = e.status === 401 ? 'That key was not accepted.' : e.message;
    show(ui.signinError, true);
    showSignIn();
    return;
  }
  if (me.role === 'cms') {
    key = '';
    ui.signinError.textContent = 'This is a CMS key: sign in with a moderator key.';
    show(ui.signinError, true);
    showSignIn();
    return;
  }
  sessionStorage.setItem('mg_key', key);
  ui.who.textContent = me.key_id + ' · ' + me.role;
  show(ui.who, true);
  show(ui.signout, true);
  show(ui.signin, false);
  show(ui.app, true);
  ui.site.textContent = '';
  for (const s of me.sites) ui.site.append(new Option(s, s));
  view.site = me.site || me.sites[0];
  ui.site.value = view.site;
  $('site-pick').hidden = me.sites.length < 2;
  ui.pages.hidden = me.role !== 'admin';
  showPage('queue');
  await reload();
  startPolling();
}

function showSignIn() {
  show(ui.app, false);
  show(ui.who, false);
  show(ui.signout, false);
  show(ui.signin, true);
  ui.key.value = '';
  ui.key.focus();
}

// ---------- the list ----------

function query(extra) {
  const q = new URLSearchParams({ state: view.state, order: view.order, limit: String(PAGE) });
  if (view.reason) q.set('reason', view.reason);
  if (view.thread) q.set('thread', view.thread);
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return '/v1/sites/' + encodeURIComponent(view.site) + '/queue?' + q;
}

async function reload() {
  const seq = ++loadSeq;
  items = [];
  cursor = null;
  current = -1;
  selected.clear();
  ui.list.textContent = '';
  authorShow();
  show(ui.error, false);
  show(ui.empty, false);
  show(ui.more, false);
  show(ui.loading, true);
  try {
    const page = await api('GET', query());
    if (seq !== loadSeq) return;
    counts(page);
    add(page);
    if (items.length) focus(0);
  } catch (e) {
    if (seq === loadSeq) fail(e);
  } finally {
    if (seq === loadSeq) {
      show(ui.loading, false);
      if (ui.error.hidden) empty();
    }
  }
}

async function more() {
  if (!cursor || busy) return;
  busy = true;
  try {
    add(await api('GET', query({ cursor, counts: '0' })));
  } catch (e) {
    fail(e);
  } finally {
    busy = false;
  }
}

function add(page) {
  for (const it of page.items) {
    if (items.some((x) => x.id === it.id)) continue;
    items.push(it);
    ui.list.append(card(it));
  }
  cursor = page.next_cursor;
  show(ui.more, !!cursor);
  empty();
}

function empty() {
  const none = items.length === 0;
  if (none) {
    const f = view.reason || view.thread ? ' matching these filters' : '';
    ui.empty.textContent = view.state === 'held' ? 'Nothing is held' + f + '. The queue is clear.'
      : 'No ' + view.state + ' comments' + f + '.';
  }
  show(ui.empty, none && ui.loading.hidden);
}

function counts(page) {
  if (!page.counts) return;
  ui.states.textContent = '';
  for (const s of STATES) {
    const n = page.counts[s] || 0;
    const b = el('button', s === 'reported' && n > 0 ? 'attention' : '', s + ' ' + n);
    b.type = 'button';
    b.dataset.state = s;
    if (s === 'reported') b.title = 'published comments readers reported: a moderator should look again';
    b.setAttribute('aria-pressed', String(s === view.state));
    b.addEventListener('click', () => { view.state = s; view.reason = ''; ui.reason.value = ''; reload(); });
    ui.states.append(b);
  }
  const keep = view.reason;
  ui.reason.textContent = '';
  ui.reason.append(new Option('any', ''));
  const codes = Object.keys(page.reason_counts || {}).sort();
  if (keep && !codes.includes(keep)) codes.push(keep);
  for (const c of codes) ui.reason.append(new Option(c + ' (' + (page.reason_counts[c] || 0) + ')', c));
  ui.reason.value = keep;
  ui.status.textContent = 'updated ' + new Date().toLocaleTimeString();
}

// The words and links that drove the score: the quoted words of the
// reasons that raised it (word lists, the Bayes filter's spammy words)
// and the links the links filter counted.
function evidence(it) {
  const words = new Set();
  let links = false;
  for (const r of it.reasons || []) {
    if (!(r.contribution > 0)) continue;
    if (r.filter === 'links') links = true;
    const re = /"([^"]{2,60})"( \(part of a word\))?/g;
    let m;
    while ((m = re.exec(r.detail || '')) !== null) if (!m[2]) words.add(m[1].toLowerCase());
  }
  return { words: [...words], links };
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

// The body as text nodes, with <mark>s around the evidence.
function highlighted(text, ev) {
  const spans = [];
  if (ev.links) {
    const re = /\b(?:https?:\/\/|www\.)[^\s<>"']+/gi;
    let m;
    while ((m = re.exec(text)) !== null) spans.push([m.index, m.index + m[0].length, 'hl-link']);
  }
  for (const w of ev.words) {
    const re = new RegExp('(^|[^\\p{L}\\p{N}])(' + escapeRe(w) + ')(?=$|[^\\p{L}\\p{N}])', 'giu');
    let m;
    while ((m = re.exec(text)) !== null) {
      const s = m.index + m[1].length;
      spans.push([s, s + m[2].length, 'hl-word']);
      re.lastIndex = s + m[2].length;
    }
  }
  spans.sort((x, y) => x[0] - y[0] || y[1] - x[1]);
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const [s, e, cls] of spans) {
    if (s < at) continue; // inside an earlier mark
    if (s > at) frag.append(document.createTextNode(text.slice(at, s)));
    frag.append(el('mark', cls, text.slice(s, e)));
    at = e;
  }
  frag.append(document.createTextNode(text.slice(at)));
  return frag;
}

function card(it) {
  const li = el('li', 'item');
  li.dataset.id = it.id;
  const meta = el('div', 'meta');
  const score = el('span', 'score' + (it.score >= 0.9 ? ' high' : it.score < 0.5 ? ' low' : ''),
    Number(it.score).toFixed(2));
  score.title = 'spam score';
  const author = (it.author && (it.author.name || it.author.email || it.author.id)) ||
    (it.published ? 'author not kept' : 'anonymous');
  const who = el('span', 'author', author);
  // a comment published at once keeps no author fields: the author panel
  // still knows its author key and network (api.md §2.16)
  if (!it.author && it.published) {
    who.title = 'modgate published this comment at once and kept only its author key: see the author panel';
  }
  meta.append(score, who);
  if (it.comment && it.comment.thread_id) meta.append(el('span', 'thread', 'thread ' + it.comment.thread_id));
  if (it.client && it.client.ip) meta.append(el('span', 'ip', it.client.ip));
  meta.append(el('time', '', new Date(it.state_since || it.held_at).toLocaleString()));
  if (it.decided_by) meta.append(el('span', '', it.state + ' by ' + it.decided_by));
  const body = el('div', 'body');
  body.append(highlighted((it.comment && it.comment.body) || '', evidence(it)));
  const reasons = el('div', 'reasons');
  for (const r of it.reasons || []) {
    const c = el('span', 'reason' + (r.contribution > 0 ? ' up' : r.contribution < 0 ? ' down' : ''), r.code);
    c.title = (r.detail || '') + ' (' + (r.contribution > 0 ? '+' : '') + r.contribution + ')';
    reasons.append(c);
  }
  const rep = it.reports && it.reports.count > 0 ? reportsBox(it) : null;
  const acts = el('div', 'actions');
  for (const [k, a] of Object.entries(ACTIONS)) {
    const b = el('button', a, a + ' (' + k + ')');
    b.type = 'button';
    b.addEventListener('click', (e) => { e.stopPropagation(); focusId(it.id); act(a, [it.id]); });
    acts.append(b);
  }
  if (view.state !== 'held') {
    const b = el('button', 'hold', 'back to held');
    b.type = 'button';
    b.addEventListener('click', (e) => { e.stopPropagation(); act('hold', [it.id]); });
    acts.append(b);
  }
  if (it.state === 'reported') li.classList.add('reported');
  li.append(meta);
  if (rep) li.append(rep);
  li.append(body, reasons, acts);
  li.addEventListener('click', (e) => {
    const i = items.findIndex((x) => x.id === it.id);
    if (e.shiftKey && current >= 0) extend(i); else focus(i);
  });
  return li;
}

// The readers' reports of a comment (api.md §2.16): "published, reported
// by readers" while it is in the reported state, how many reports and
// why ("3 reports: spam 2 · abusive 1"), and the last reports with their
// time, reason and note, newest first. The notes are readers' text: put in
// as text only.
function reportsBox(it) {
  const r = it.reports;
  const box = el('section', 'reader-reports');
  box.setAttribute('aria-label', 'Readers\' reports');
  const head = el('div', 'r-head');
  if (it.state === 'reported') {
    const m = el('span', 'r-published', 'published, reported by readers');
    m.title = (it.published ? 'modgate published it at once' : 'a moderator approved it') +
      '; readers reported it since. a keeps it published, r or s take it down.';
    head.append(m);
  }
  const why = Object.entries(r.reasons || {}).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
  const n = Number(r.count) || 0;
  head.append(el('span', 'r-sum', n + (n === 1 ? ' report' : ' reports') +
    (why.length ? ': ' + why.map(([k, v]) => k + ' ' + v).join(' · ') : '')));
  box.append(head);
  const lastReports = Array.isArray(r.last) ? r.last.slice().sort((x, y) => (y.at || 0) - (x.at || 0)) : [];
  if (lastReports.length) {
    const ol = el('ol', 'r-last');
    ol.setAttribute('aria-label', 'The last reports, newest first');
    for (const x of lastReports) {
      const li = el('li');
      const d = new Date(Number(x.at));
      const t = el('time', '', Number.isNaN(d.getTime()) ? '' : d.toLocaleString());
      if (!Number.isNaN(d.getTime())) t.dateTime = d.toISOString();
      li.append(t, el('span', 'r-reason', x.reason || ''));
      if (x.note) li.append(el('span', 'r-note', x.note));
      ol.append(li);
    }
    box.append(ol);
  }
  return box;
}

function cards() { return ui.list.children; }

function paint() {
  const cs = cards();
  for (let i = 0; i < cs.length; i++) {
    cs[i].classList.toggle('current', i === current);
    cs[i].classList.toggle('selected', selected.has(items[i].id));
    cs[i].setAttribute('aria-selected', String(selected.has(items[i].id)));
  }
}

function focus(i) {
  if (!items.length) { current = -1; authorShow(); return; }
  current = Math.max(0, Math.min(items.length - 1, i));
  anchor = current;
  paint();
  authorShow();
  const c = cards()[current];
  if (c && c.scrollIntoView) c.scrollIntoView({ block: 'nearest' });
  if (current >= items.length - 3) more();
}

function focusId(id) { focus(items.findIndex((x) => x.id === id)); }

// Shift-selection: everything between the anchor and i.
function extend(i) {
  if (!items.length) return;
  i = Math.max(0, Math.min(items.length - 1, i));
  if (anchor < 0) anchor = current;
  const [a, b] = anchor < i ? [anchor, i] : [i, anchor];
  for (let k = a; k <= b; k++) selected.add(items[k].id);
  current = i;
  paint();
  authorShow();
  if (current >= items.length - 3) more();
}

function targets() {
  if (selected.size) return items.filter((x) => selected.has(x.id)).map((x) => x.id);
  return current >= 0 ? [items[current].id] : [];
}

// ---------- actions ----------

async function act(action, ids, undoing) {
  if (!ids.length || busy) return;
  busy = true;
  show(ui.error, false);
  const from = view.state;
  try {
    let done = [];
    if (ids.length === 1) {
      const body = { action, from: undoing ? undoing[ids[0]] : from };
      const seen = items.find((x) => x.id === ids[0]);
      if (!undoing && seen) body.version = seen.version; // refused if it changed since it was shown
      const r = await api('POST', '/v1/sites/' + encodeURIComponent(view.site) + '/comments/' +
        encodeURIComponent(ids[0]) + '/action', body);
      done = [{ id: ids[0], from: r.from, to: r.state }];
    } else {
      const r = await api('POST', '/v1/sites/' + encodeURIComponent(view.site) + '/actions', { action, from, ids });
      done = r.results.filter((x) => x.status === 'ok').map((x) => ({ id: x.id, from: x.from, to: x.state }));
      if (r.failed) toast(r.failed + ' of ' + ids.length + ' were not changed (decided by someone else?)');
    }
    if (!undoing) last = done.length ? done : last;
    if (done.length) authorsChanged(); // the authors' and networks' counts changed
    const gone = new Set(done.filter((d) => d.to !== view.state).map((d) => d.id));
    removeItems(gone);
    if (done.length) authorShow(); // the focused comment's author history is read again
    if (!undoing && done.length) {
      toast((done.length === 1 ? '1 comment' : done.length + ' comments') + ': ' + action + ' · u to undo');
    }
    refreshCounts();
    return done;
  } catch (e) {
    if (e.code === 'state_conflict' || e.code === 'illegal_transition') {
      if (e.body.state === from) {
        toast('This comment changed since it was shown: here it is again.');
        reload();
      } else {
        toast('Someone decided this comment already: it is ' + (e.body.state || 'changed') + ' now.');
        removeItems(new Set(ids));
        refreshCounts();
      }
    } else {
      fail(e);
    }
  } finally {
    busy = false;
  }
}

function removeItems(gone) {
  if (!gone.size) return;
  const at = current;
  const cs = [...cards()];
  items = items.filter((x, i) => {
    if (gone.has(x.id)) { cs[i].remove(); selected.delete(x.id); return false; }
    return true;
  });
  empty();
  focus(Math.min(at, items.length - 1));
}

async function undo() {
  if (!last || busy) return;
  const todo = last;
  last = null;
  // put each back where it was, in the state each action moved it to
  let back = 0;
  for (const d of todo) {
    const r = await act(BACK[d.from], [d.id], { [d.id]: d.to });
    if (r && r.length) back++;
  }
  // a decision on a reported comment is undone to held (api.md §2.8)
  toast('Undone: ' + back + ' of ' + todo.length + (todo[0].from === 'reported'
    ? ' put in held (a reported comment\'s undo holds it)' : ' back to ' + todo[0].from));
  if (todo.some((d) => d.from === view.state)) reload();
}

async function refreshCounts() {
  try {
    counts(await api('GET', query({ limit: '1' })));
  } catch (e) {
    ui.status.textContent = 'counts: ' + e.message;
  }
}

function startPolling() {
  clearInterval(startPolling.t);
  startPolling.t = setInterval(() => { if (key && !document.hidden) refreshCounts(); }, POLL_MS);
}

// ---------- the author panel: history, trust and ban (api.md §2.15) ----------
//
// One panel, moved into the focused comment's card. It shows the
// author_history of GET comments/{id} (read when a comment is focused,
// kept DETAIL_MS per comment, forgotten at every decision since the counts
// change), and sets the author's status with PUT authors/key:KEY. A ban
// asks for a second B (or a second click) within CONFIRM_MS.

const details = new Map(); // site + ' ' + comment id -> { at, hist } or { at, error }
// gen: +1 at every change of an author or decision, so that a history
// read before it is not kept
const au = { panel: null, id: '', site: '', armed: null, busy: false, msg: '', wait: 0, gen: 0 };

// The authors' counts or statuses changed: every history read is old.
function authorsChanged() {
  au.gen++;
  details.clear();
}

function detailKey(id) { return view.site + ' ' + id; }

function authorPanel() {
  if (!au.panel) {
    au.panel = el('section', 'author-panel');
    au.panel.id = 'author';
    au.panel.setAttribute('aria-label', 'Author');
    // a click in the panel is not a click on the card (no refocus)
    au.panel.addEventListener('click', (e) => e.stopPropagation());
  }
  return au.panel;
}

// Put the panel in the focused card (or take it away when none is), and
// read the comment's history if it is not known or is old.
function authorShow() {
  const it = current >= 0 ? items[current] : null;
  const p = authorPanel();
  if (!it) {
    p.remove();
    au.id = '';
    authorDisarm(true);
    return;
  }
  if (it.id !== au.id || view.site !== au.site) {
    au.id = it.id;
    au.site = view.site;
    au.msg = '';
    authorDisarm(true);
  }
  const c = cards()[current];
  if (c && p.parentNode !== c) c.append(p);
  renderAuthor();
  const d = details.get(detailKey(it.id));
  if (!d || Date.now() - d.at > DETAIL_MS) {
    clearTimeout(au.wait);
    au.wait = setTimeout(() => { if (au.id === it.id) loadDetail(it.id); }, DETAIL_WAIT_MS);
  }
}

async function loadDetail(id) {
  const site = view.site;
  const k = site + ' ' + id;
  if (loadDetail.pending.has(k)) return;
  loadDetail.pending.add(k);
  const gen = au.gen;
  let d;
  try {
    const c = await api('GET', '/v1/sites/' + encodeURIComponent(site) + '/comments/' + encodeURIComponent(id));
    d = { at: Date.now(), hist: c.author_history || null };
  } catch (e) {
    d = { at: Date.now(), error: e.message };
  } finally {
    loadDetail.pending.delete(k);
  }
  const here = au.id === id && au.site === site;
  if (gen !== au.gen) { // read before a change: read it again if it is still shown
    if (here) loadDetail(id);
    return;
  }
  details.set(k, d);
  if (here) renderAuthor();
}
loadDetail.pending = new Set();

function recentLabel(h) { return h && h.window_days ? 'last ' + h.window_days + ' days' : 'recently'; }

function capital(t) { return t.charAt(0).toUpperCase() + t.slice(1); }

function tally(c) {
  c = c || {};
  return (c.approved || 0) + ' approved · ' + (c.rejected || 0) + ' rejected · ' + (c.spam || 0) + ' spam';
}

// The author key of the focused comment: '' when it has no author (no
// author.id, no author.email), null when its history is not read yet.
function focusedAuthor() {
  const d = details.get(detailKey(au.id));
  if (!d || d.error) return null;
  return d.hist && d.hist.key ? d.hist.key : '';
}

const NO_AUTHOR = 'This comment has no author id or e-mail: there is no author to trust or ban.';

function renderAuthor() {
  const p = authorPanel();
  const d = details.get(detailKey(au.id));
  p.textContent = '';
  p.dataset.id = au.id;
  const head = el('div', 'a-head');
  head.append(el('strong', '', 'Author'));
  p.append(head);
  const h = d && d.hist;
  const key = h && h.key ? h.key : '';
  p.dataset.state = !d ? 'loading' : d.error ? 'error' : 'ready';
  p.dataset.key = key;
  p.dataset.status = key ? h.status || 'normal' : '';
  if (!d) {
    head.append(el('span', 'muted', 'loading the history…'));
  } else if (d.error) {
    head.append(el('span', 'error-text', 'history unavailable: ' + d.error));
  } else {
    if (key) {
      const st = h.status || 'normal';
      head.append(el('span', 'a-status ' + st, st));
      const k = el('span', 'a-key muted', 'key ' + key);
      k.title = 'the author key (a hash of the author id or e-mail; the queue\'s author filter takes it)';
      head.append(k);
      if (h.set_by) {
        let set = st + ' by ' + h.set_by + (h.set_at ? ' · ' + new Date(h.set_at).toLocaleString() : '');
        if (h.note) set += ' · ' + h.note;
        head.append(el('span', 'a-set muted', set));
      }
      const cnt = el('div', 'a-counts');
      cnt.append(el('span', 'a-all', 'All: ' + tally(h)),
        el('span', 'a-recent', capital(recentLabel(h)) + ': ' + tally(h.recent)));
      p.append(cnt);
    } else {
      head.append(el('span', 'a-none muted', 'none: no author id or e-mail'));
    }
    const n = h && h.network;
    if (n) {
      const net = el('div', 'a-net');
      net.append(el('span', 'a-prefix', 'Network ' + n.prefix),
        el('span', 'a-net-recent', recentLabel(h) + ': ' + tally(n.recent)),
        el('span', 'a-net-all muted', 'all: ' + tally(n)));
      p.append(net);
    }
    if (!h) p.append(el('div', 'muted', 'No author and no network are known for this comment.'));
    if (key && h.last && h.last.length) {
      const ol = el('ol', 'a-last');
      ol.setAttribute('aria-label', 'The author\'s last comments');
      for (const x of h.last) {
        const li = el('li');
        li.dataset.id = x.id;
        const t = el('time', '', new Date(x.at).toLocaleString());
        t.dateTime = x.at;
        li.append(el('span', 'a-id', x.id), el('span', 'a-state ' + x.state, x.state), t);
        if (x.id === au.id) li.append(el('span', 'muted', 'this one'));
        ol.append(li);
      }
      const lbl = el('div', 'muted a-last-label', 'Last comments, newest first:');
      p.append(lbl, ol);
    }
  }
  const acts = el('div', 'a-actions');
  const status = key ? h.status || 'normal' : '';
  for (const [k, s] of [['T', 'trusted'], ['B', 'banned'], ['N', 'normal']]) {
    const armed = s === 'banned' && au.armed && au.armed.key === key;
    const label = s === 'trusted' ? 'Trust' : s === 'banned' ? (armed ? 'Confirm ban' : 'Ban') : 'Normal';
    const b = el('button', 'a-set-' + s + (armed ? ' armed' : ''), label + ' (Shift+' + k.toLowerCase() + ')');
    b.type = 'button';
    b.dataset.status = s;
    b.disabled = !key || au.busy || status === s;
    b.title = !d ? 'the history is loading' : !key ? NO_AUTHOR : status === s ? 'the author is ' + s + ' already'
      : s === 'banned' ? 'reject this author\'s next comments (asks again first)'
        : s === 'trusted' ? 'publish this author\'s comments the score alone would hold (api.md §2.15)'
          : 'no override: the author\'s counts decide again';
    b.addEventListener('click', () => setAuthor(s));
    acts.append(b);
  }
  p.append(acts);
  const msg = el('p', 'a-msg' + (au.armed ? ' armed' : ''), au.msg || (d && !d.error && !key ? NO_AUTHOR : ''));
  msg.setAttribute('role', 'status');
  p.append(msg);
}

function authorSay(m) {
  au.msg = m;
  renderAuthor();
}

function authorDisarm(quiet) {
  if (!au.armed) return;
  clearTimeout(au.armed.t);
  au.armed = null;
  if (!quiet) {
    au.msg = '';
    if (au.id) renderAuthor();
  }
}

// Set the focused comment's author to 'status' (trusted, banned, normal).
async function setAuthor(status) {
  if (!au.id || au.busy) return;
  const id = au.id;
  const site = au.site;
  const key = focusedAuthor();
  if (key === null) { authorSay('The author\'s history is not read yet: try again in a moment.'); return; }
  if (!key) { authorSay(NO_AUTHOR); toast(NO_AUTHOR); return; }
  const h = details.get(detailKey(id)).hist;
  if ((h.status || 'normal') === status) {
    authorDisarm(true);
    authorSay('This author is ' + status + ' already.');
    return;
  }
  if (status === 'banned' && !(au.armed && au.armed.key === key)) {
    authorDisarm(true);
    au.armed = { key, t: setTimeout(() => authorDisarm(), CONFIRM_MS) };
    authorSay('Ban this author? Their next comments will be rejected. Press B again (or click Confirm ban) within ' +
      CONFIRM_MS / 1000 + ' s; Esc cancels.');
    return;
  }
  authorDisarm(true);
  au.busy = true;
  authorSay('Setting the author to ' + status + '…');
  try {
    const r = await api('PUT', '/v1/sites/' + encodeURIComponent(site) + '/authors/key:' + key,
      { status, note: 'on comment ' + id });
    // every history read of this author has the new status; the counts are read again
    au.gen++;
    for (const [k, d] of details) {
      if (!k.startsWith(site + ' ') || !d.hist || d.hist.key !== key) continue;
      for (const f of ['status', 'note', 'set_by', 'set_at']) {
        if (r[f] === undefined) delete d.hist[f]; else d.hist[f] = r[f];
      }
      d.at = 0;
    }
    const m = 'Author ' + key + ' is ' + r.status + ' now (was ' + (r.previous_status || 'normal') + ').';
    au.msg = au.id === id ? m : '';
    toast(m);
  } catch (e) {
    au.msg = au.id === id ? 'The author was not changed: ' + e.message : '';
    toast('The author was not changed: ' + e.message);
  } finally {
    au.busy = false;
  }
  if (au.id === id && au.site === site) {
    renderAuthor();
    loadDetail(id);
  }
}

// ---------- keys ----------

function onKey(e) {
  if (!key || ui.app.hidden || view.page !== 'queue' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) {
    if (e.key === 'Escape') t.blur();
    return;
  }
  const k = e.key;
  if (k === 'j' || k === 'ArrowDown') focus(current + 1);
  else if (k === 'k' || k === 'ArrowUp') focus(current - 1);
  else if (k === 'J') extend(current + 1);
  else if (k === 'K') extend(current - 1);
  else if (k === 'x' || k === 'X') {
    if (current < 0) return;
    const id = items[current].id;
    if (selected.has(id)) selected.delete(id); else selected.add(id);
    anchor = current;
    paint();
  } else if (k === 'Escape') { selected.clear(); paint(); authorDisarm(); }
  else if (ACTIONS[k]) act(ACTIONS[k], targets());
  else if (AUTHOR_KEYS[k]) setAuthor(AUTHOR_KEYS[k]);
  else if (k === 'u') undo();
  else return;
  e.preventDefault();
}

// ---------- start ----------

document.addEventListener('DOMContentLoaded', () => {
  for (const id of ['signin', 'app', 'who', 'signout', 'key', 'states', 'site', 'reason', 'thread', 'order',
    'clear', 'status', 'error', 'loading', 'empty', 'list', 'more', 'toast']) ui[id] = $(id);
  ui.signinError = $('signin-error');
  for (const [k, id] of [['pages', 'pages'], ['operator', 'operator'], ['pageName', 'page-name'], ['opError', 'op-error'],
    ['policyVersion', 'policy-version'], ['policyText', 'policy-text'], ['policyCheck', 'policy-check'],
    ['policyNote', 'policy-note'], ['qHold', 'q-hold'], ['qReject', 'q-reject'], ['save', 'save'],
    ['dryRun', 'dry-run'], ['tDays', 't-days'], ['tLabelled', 't-labelled'], ['chart', 'chart'],
    ['dryResult', 'dry-result'], ['versions', 'versions']]) ui[k] = $(id);
  startOperator();
  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn(ui.key.value.trim()); });
  ui.signout.addEventListener('click', () => {
    sessionStorage.removeItem('mg_key');
    key = '';
    me = null;
    clearInterval(startPolling.t);
    showSignIn();
  });
  ui.site.addEventListener('change', () => {
    view.site = ui.site.value;
    reload();
    if (view.page === 'operator') loadOperator();
  });
  ui.reason.addEventListener('change', () => { view.reason = ui.reason.value; reload(); });
  ui.order.addEventListener('change', () => { view.order = ui.order.value; reload(); });
  ui.thread.addEventListener('change', () => { view.thread = ui.thread.value.trim(); reload(); });
  ui.clear.addEventListener('click', () => {
    view.reason = view.thread = '';
    ui.reason.value = ui.thread.value = '';
    reload();
  });
  ui.more.addEventListener('click', more);
  document.addEventListener('keydown', onKey);
  if (key) signIn(key); else showSignIn();
});

// ---------- the operator page: policy, tuning, versions, stories (admin keys) ----------

const op = { site: '', gen: 0, version: 0, doc: null, rows: [], current: null, checkSeq: 0, valid: false };
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// The operator page acts on the site it loaded (op.site), never on one
// picked since: a save must not send site A's text to site B.
function sitePath(rest) { return '/v1/sites/' + encodeURIComponent(op.site || view.site) + rest; }

function opFail(e) {
  ui.opError.textContent = e.message;
  show(ui.opError, true);
}

function showPage(page) {
  view.page = page;
  for (const b of ui.pages.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.page === page));
  show($('queue'), page === 'queue');
  show(ui.operator, page === 'operator');
  ui.pageName.textContent = page === 'queue' ? 'moderation' : 'policy & tuning';
  if (page === 'operator') loadOperator();
}

async function loadOperator() {
  show(ui.opError, false);
  loadStories(); // its own errors, in its own panel
  const gen = ++op.gen;
  op.site = view.site;
  op.checkSeq++; // a check still running is about the text being replaced
  clearTimeout(scheduleCheck.t);
  ui.save.disabled = true;
  try {
    const [p, v] = await Promise.all([api('GET', sitePath('/policy')), api('GET', sitePath('/policy/versions?limit=20'))]);
    if (gen !== op.gen) return; // another site or reload since
    op.version = p.version;
    op.doc = p.policy;
    ui.policyVersion.textContent = 'version ' + p.version + (p.source === 'file' ? ' (the config file\'s)' : ' by ' + p.by);
    ui.policyText.value = JSON.stringify(p.policy, null, 2);
    syncQuick(p.policy);
    setCheck('ok', 'The policy in force.');
    op.valid = false;
    ui.save.disabled = true;
    versions(v);
    await loadTuning(gen);
  } catch (e) {
    if (gen === op.gen) opFail(e);
  }
}

function syncQuick(doc) {
  const t = (doc && doc.thresholds) || {};
  if (document.activeElement !== ui.qHold) ui.qHold.value = t.hold !== undefined ? t.hold : '';
  if (document.activeElement !== ui.qReject) ui.qReject.value = t.reject !== undefined ? t.reject : '';
}

function setCheck(cls, text) {
  ui.policyCheck.className = cls;
  ui.policyCheck.textContent = text;
}

// The textarea's policy, or null (with the JSON error shown).
function edited() {
  try {
    const d = JSON.parse(ui.policyText.value);
    if (!d || typeof d !== 'object' || Array.isArray(d)) throw new Error('the policy must be a JSON object');
    return d;
  } catch (e) {
    setCheck('error', 'JSON: ' + e.message);
    return null;
  }
}

// Validation as you type: JSON first, then modgate's own check of every field.
function scheduleCheck() {
  op.valid = false;
  ui.save.disabled = true;
  clearTimeout(scheduleCheck.t);
  scheduleCheck.t = setTimeout(check, 250);
}

async function check() {
  const seq = ++op.checkSeq;
  if (op.site !== view.site) return;
  const d = edited();
  if (!d) return;
  syncQuick(d);
  drawChart(d.thresholds && typeof d.thresholds.hold === 'number' ? d.thresholds.hold : null);
  try {
    await api('POST', sitePath('/policy/validate'), { policy: d });
    if (seq !== op.checkSeq) return;
    const same = JSON.stringify(d) === JSON.stringify(op.doc);
    setCheck('ok', same ? 'The policy in force.' : 'Valid: not saved yet.');
    op.valid = !same;
    ui.save.disabled = same;
  } catch (e) {
    if (seq !== op.checkSeq) return;
    const f = e.body && e.body.error && e.body.error.field;
    setCheck('error', e.message + (f && !e.message.startsWith(f) ? ' (' + f + ')' : ''));
  }
}

function quickEdit() {
  const d = edited();
  if (!d) return;
  d.thresholds = Object.assign({}, d.thresholds);
  for (const [k, input] of [['hold', ui.qHold], ['reject', ui.qReject]]) {
    const v = parseFloat(input.value);
    if (!Number.isNaN(v)) d.thresholds[k] = v;
  }
  ui.policyText.value = JSON.stringify(d, null, 2);
  scheduleCheck();
}

async function save() {
  const d = edited();
  if (!d || !op.valid || op.site !== view.site) return;
  const note = ui.policyNote.value;
  if (new TextEncoder().encode(note).length > 500) {
    setCheck('error', 'The note is longer than 500 bytes.');
    return;
  }
  ui.save.disabled = true;
  try {
    const r = await api('PUT', sitePath('/policy'), { policy: d, base_version: op.version, note });
    toast('Saved as version ' + r.version + '; every instance has it within a second');
    ui.policyNote.value = '';
    await loadOperator();
  } catch (e) {
    if (e.code === 'version_conflict') {
      // keep the text: show what was saved meanwhile, and let a second
      // save replace it knowingly
      const cur = e.body.error.current_version;
      op.valid = false;
      try {
        versions(await api('GET', sitePath('/policy/versions?limit=20')));
        op.version = cur;
        op.valid = true;
      } catch (e2) { /* the message below still holds */ }
      setCheck('error', 'Version ' + cur + ' was saved meanwhile (see Versions below). Your text is kept: ' +
        'Save again to replace version ' + cur + ' with it.');
    } else {
      setCheck('error', e.message);
    }
    ui.save.disabled = !op.valid;
  }
}

async function loadTuning(gen) {
  const t = await api('GET', sitePath('/tuning?days=' + ui.tDays.value));
  if (gen !== undefined && gen !== op.gen) return;
  op.rows = t.rows;
  op.current = t.current;
  const l = t.labelled;
  ui.tLabelled.textContent = (l.spam + l.ham) + ' labelled comments: ' + l.spam + ' spam, ' + l.ham + ' ham' +
    (l.truncated ? ' (the newest only)' : '') + '. Only held comments are labelled.';
  const d = edited();
  drawChart(d && d.thresholds && typeof d.thresholds.hold === 'number' ? d.thresholds.hold : null);
}

// Precision, recall and FPR against the hold threshold, with the
// thresholds in force and proposed marked.
function drawChart(proposed) {
  const W = 520, H = 260, L = 40, R = 10, T = 10, B = 30;
  const x = (v) => L + v * (W - L - R), y = (v) => T + (1 - v) * (H - T - B);
  const s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img',
    'aria-label': 'precision, recall and false-positive rate against the hold threshold' });
  for (let i = 0; i <= 10; i += 2) {
    const v = i / 10;
    s.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    const ty = svg('text', { x: L - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' });
    ty.textContent = v.toFixed(1);
    const tx = svg('text', { x: x(v), y: H - B + 16, class: 'tick', 'text-anchor': 'middle' });
    tx.textContent = v.toFixed(1);
    s.append(ty, tx);
  }
  for (const m of ['precision', 'recall', 'fpr']) {
    const pts = op.rows.filter((r) => r[m] !== null).map((r) => x(r.threshold).toFixed(1) + ',' + y(r[m]).toFixed(1));
    const line = svg('polyline', { points: pts.join(' '), class: 'series ' + m, 'data-series': m, 'data-points': pts.length });
    s.append(line);
    for (const r of op.rows) {
      if (r[m] === null) continue;
      const c = svg('circle', { cx: x(r.threshold), cy: y(r[m]), r: 2.5, class: 'dot ' + m });
      const tt = svg('title');
      tt.textContent = m + ' ' + r[m] + ' at ' + r.threshold + ' (' + r.accept + ' accepted, ' + r.hold + ' held, ' +
        r.challenge + ' challenged, ' + r.reject + ' rejected)';
      c.append(tt);
      s.append(c);
    }
  }
  const mark = (v, cls) => {
    if (typeof v !== 'number') return;
    s.append(svg('line', { x1: x(v), x2: x(v), y1: T, y2: H - B, class: 'marker ' + cls, 'data-value': v }));
    const t = svg('text', { x: x(v) + 4, y: T + (cls === 'current' ? 12 : 26), class: 'mlabel ' + cls });
    t.textContent = (cls === 'current' ? 'in force ' : 'proposed ') + v;
    s.append(t);
  };
  if (op.current) mark(op.current.hold, 'current');
  if (proposed !== null && op.current && proposed !== op.current.hold) mark(proposed, 'proposed');
  ui.chart.textContent = '';
  ui.chart.append(s);
}

async function dryRun() {
  const d = edited();
  if (!d) return;
  ui.dryResult.textContent = '';
  try {
    const r = await api('POST', sitePath('/tuning/dry-run'), { policy: d, days: Number(ui.tDays.value), sample: 10 });
    const n = r.labelled.spam + r.labelled.ham;
    ui.dryResult.dataset.changed = r.changed;
    const h = el('p', 'dry-sum');
    const tr = Object.entries(r.transitions).map(([k, v]) => v + ' ' + k.replace('->', ' → ')).join(', ');
    h.textContent = 'Of ' + n + ' labelled comments, ' + r.changed + ' would be decided differently than when they arrived' +
      (tr ? ' (' + tr + ')' : '') + '.';
    const f = (row) => 'precision ' + row.precision + ', recall ' + row.recall + ', FPR ' + row.fpr;
    const cmp = el('p', 'muted', 'In force: ' + f(r.current.row) + '. Proposed: ' + f(r.proposed.row) + '.');
    ui.dryResult.append(h, cmp);
    if (r.sample.length) {
      const tb = el('table', 'sample');
      const hr = el('tr');
      for (const c of ['label', 'then → proposed', 'score', 'comment']) hr.append(el('th', '', c));
      tb.append(hr);
      for (const it of r.sample) {
        const tr2 = el('tr');
        tr2.dataset.id = it.id;
        tr2.append(el('td', it.label, it.label), el('td', '', it.then + ' → ' + it.proposed),
          el('td', '', it.score_current + ' → ' + it.score_proposed), el('td', 'excerpt', it.excerpt || ''));
        tb.append(tr2);
      }
      ui.dryResult.append(tb);
    }
    show(ui.dryResult, true);
  } catch (e) {
    ui.dryResult.append(el('p', 'error', e.message));
    show(ui.dryResult, true);
  }
}

function versions(v) {
  ui.versions.textContent = '';
  for (const e of v.versions) {
    const li = el('li');
    li.dataset.version = e.version;
    const head = el('div', 'vhead');
    head.append(el('strong', '', 'v' + e.version), el('span', 'muted', ' · ' + e.by + (e.at ? ' · ' + e.at : '')));
    li.append(head);
    const what = e.version === 0 ? 'the config file' + (e.note ? ' (' + e.note + ')' : '')
      : (e.reverted_from !== undefined ? 'reverted to v' + e.reverted_from + (e.note ? ': ' : '') : '') + (e.note || '');
    if (what) li.append(el('div', 'vnote', what));
    if (e.version === v.current_version) {
      li.append(el('span', 'badge', 'in force'));
    } else {
      const b = el('button', '', 'Revert to this');
      b.type = 'button';
      b.addEventListener('click', () => revert(e.version));
      li.append(b);
    }
    ui.versions.append(li);
  }
}

async function revert(version) {
  if (op.site !== view.site) return;
  try {
    const r = await api('POST', sitePath('/policy/revert'), { version, base_version: op.version });
    toast('Version ' + r.version + ' is version ' + version + '\'s policy again');
    await loadOperator();
  } catch (e) {
    opFail(e);
  }
}

function startOperator() {
  ui.pages.hidden = !(me && me.role === 'admin');
  for (const b of ui.pages.querySelectorAll('button')) b.addEventListener('click', () => showPage(b.dataset.page));
  ui.policyText.addEventListener('input', scheduleCheck);
  ui.qHold.addEventListener('input', quickEdit);
  ui.qReject.addEventListener('input', quickEdit);
  ui.save.addEventListener('click', save);
  ui.dryRun.addEventListener('click', dryRun);
  ui.tDays.addEventListener('change', () => loadTuning(op.gen).catch(opFail));
  startStories();
}

// ---------- the operator page: stories' own settings (api.md §2.14) ----------
//
// The site's threads with settings of their own (pre-moderation, closed,
// until when, by whom, why), STORY_PAGE a page in thread id order, and a
// form that sets one story's settings whole (PUT: adds or replaces). Its
// defaults are the newsroom's usual case: every comment of the story held
// for a day. A row's Remove asks for a second click within
// STORY_CONFIRM_MS. Thread ids and notes are text from other people: put
// in as text only.

const STORY_PAGE = 50;
const STORY_CONFIRM_MS = 5000;
const PREMOD_TEXT = {
  all: 'every comment held for a moderator', links: 'comments with a link held for a moderator',
  new: 'new commenters\' comments held for a moderator', none: 'not pre-moderated (even if the site is)',
};
const FOR_TEXT = { 3600: '1 hour', 86400: '1 day', 604800: '1 week' };
// gen: +1 at every reload of the list, so that an answer about the list
// before it is not shown; site: the site the list shows, and the one the
// form and the Remove buttons act on
const st = { gen: 0, site: '', next: null, total: 0, loaded: false, armed: null, paging: false, saving: false };
const utf8 = new TextEncoder();

function storyPath(rest) { return '/v1/sites/' + encodeURIComponent(st.site || view.site) + '/threads' + rest; }

// Thread ids in the API's order (bytes of UTF-8), not JS's (UTF-16 units).
function byteCmp(a, b) {
  const x = utf8.encode(a), y = utf8.encode(b);
  for (let i = 0; i < x.length && i < y.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function localTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

// "every comment held for a moderator, for 1 day (until ...)": what a
// story's settings (a PUT body or an answer) do.
function storyWords(s) {
  const what = [];
  if (s.closed === true) what.push('closed: new comments rejected');
  if (s.closed === false) what.push('open (even if the site is closed)');
  if (s.premod) what.push(PREMOD_TEXT[s.premod] || 'premod ' + s.premod);
  if (!what.length) return '';
  let when = 'until removed';
  if (s.for_s) when = 'for ' + (FOR_TEXT[s.for_s] || s.for_s + ' s') + ' (until ' +
    new Date(Date.now() + s.for_s * 1000).toLocaleString() + ')';
  else if (s.until) when = 'until ' + localTime(s.until);
  return what.join('; ') + ', ' + when;
}

function storyForm() {
  const b = {};
  if (ui.stPremod.value) b.premod = ui.stPremod.value;
  if (ui.stClosed.checked) b.closed = true;
  if (ui.stFor.value) b.for_s = Number(ui.stFor.value);
  const note = ui.stNote.value.trim();
  if (note) b.note = note;
  return b;
}

function storySummary() {
  const w = storyWords(storyForm());
  ui.stSummary.textContent = w ? 'This story: ' + w + '.'
    : 'Choose a pre-moderation or Closed: a story with neither has nothing of its own to set.';
}

function storyFail(e, input) {
  ui.stError.textContent = e.message;
  show(ui.stError, true);
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

function storyClearError() {
  show(ui.stError, false);
  for (const i of [ui.stThread, ui.stPremod, ui.stClosed, ui.stFor, ui.stNote]) i.removeAttribute('aria-invalid');
}

function storyRows() { return [...ui.stRows.children]; }

function storyTr(id) { return storyRows().find((tr) => tr.dataset.thread === id) || null; }

function storyCounts() {
  const n = storyRows().length;
  ui.stTotal.textContent = st.total ? '· ' + st.total + (st.total === 1 ? ' story' : ' stories') +
    ' with settings of their own' + (n < st.total ? ', ' + n + ' shown' : '') : '';
  show(ui.stTable, n > 0);
  show(ui.stEmpty, n === 0 && st.loaded);
  show(ui.stMore, !!st.next);
}

function storyRow(t) {
  const tr = el('tr');
  tr.dataset.thread = t.thread_id;
  const id = el('td', 'st-id', t.thread_id);
  const pm = t.premod === undefined ? el('td', 'st-premod muted', 'site\'s') : el('td', 'st-premod', t.premod);
  pm.title = t.premod === undefined ? 'the site\'s pre-moderation' : PREMOD_TEXT[t.premod] || '';
  const cl = t.closed === undefined ? el('td', 'st-closed muted', 'site\'s')
    : el('td', 'st-closed' + (t.closed ? ' closed' : ''), t.closed ? 'closed' : 'open');
  const until = el('td', 'st-until');
  if (t.until) {
    const tm = el('time', '', localTime(t.until));
    tm.dateTime = t.until;
    until.append(tm);
    if (new Date(t.until).getTime() <= Date.now()) until.append(' (ended)');
  } else {
    until.textContent = 'no end';
  }
  const by = el('td', 'st-by', t.by || '');
  if (t.at) by.title = 'set ' + localTime(t.at);
  const note = el('td', 'st-note', t.note || '');
  const act = el('td', 'st-act');
  const b = el('button', 'st-remove', 'Remove');
  b.type = 'button';
  b.title = 'the story goes back to the site\'s settings (click twice)';
  b.addEventListener('click', () => removeStory(t.thread_id, b));
  act.append(b);
  tr.append(id, pm, cl, until, by, note, act);
  return tr;
}

async function loadStories() {
  const gen = ++st.gen;
  st.site = view.site;
  st.next = null;
  st.total = 0;
  st.loaded = false;
  storyDisarm();
  storyClearError();
  ui.stRows.textContent = '';
  storyCounts();
  try {
    const r = await api('GET', storyPath('?' + new URLSearchParams({ limit: String(STORY_PAGE) })));
    if (gen === st.gen) storyPage(r);
  } catch (e) {
    if (gen === st.gen) storyFail(e);
  }
}

async function moreStories() {
  if (!st.next || st.paging) return;
  const gen = st.gen;
  st.paging = true;
  ui.stMore.disabled = true;
  try {
    const r = await api('GET', storyPath('?' + new URLSearchParams({ limit: String(STORY_PAGE), after: st.next })));
    if (gen === st.gen) storyPage(r);
  } catch (e) {
    if (gen === st.gen) storyFail(e);
  } finally {
    st.paging = false;
    ui.stMore.disabled = false;
  }
}

function storyPage(r) {
  for (const t of r.threads) {
    const old = storyTr(t.thread_id);
    if (old && old.classList.contains('pinned')) {
      // set here before its page came: it takes its place in the order now
      old.remove();
    } else if (old) {
      continue;
    }
    ui.stRows.append(storyRow(t));
  }
  st.next = r.next_after !== undefined && r.next_after !== null ? r.next_after : null;
  st.total = r.total;
  st.loaded = true;
  storyCounts();
}

// A story set through the form, shown at once: in its row if shown, else
// in its place in the order among the rows read so far, else (it comes on
// a page not read yet) on top until that page is read.
function storyPut(r) {
  const tr = storyRow(r);
  tr.classList.add('just-set');
  for (const x of storyRows()) x.classList.remove('just-set');
  const old = storyTr(r.thread_id);
  if (old) {
    if (old.classList.contains('pinned')) {
      tr.classList.add('pinned');
      tr.title = old.title;
    }
    old.replaceWith(tr);
  } else if (!st.next || byteCmp(r.thread_id, st.next) <= 0) {
    const after = storyRows().find((x) => !x.classList.contains('pinned') && byteCmp(x.dataset.thread, r.thread_id) > 0);
    ui.stRows.insertBefore(tr, after || null);
  } else {
    tr.classList.add('pinned');
    tr.title = 'set just now; in thread id order it comes on a later page';
    ui.stRows.prepend(tr);
  }
  if (r.created) st.total++;
  storyCounts();
}

async function saveStory(e) {
  e.preventDefault();
  if (st.saving) return;
  storyClearError();
  const id = ui.stThread.value.trim();
  if (!id) {
    storyFail(new Error('Enter the story\'s thread id: the comment.thread_id your CMS sends with its comments.'),
      ui.stThread);
    return;
  }
  if (id.includes('/')) {
    storyFail(new Error('A thread id with "/" cannot be set here: the API names the thread in its path.'), ui.stThread);
    return;
  }
  const body = storyForm();
  const gen = st.gen;
  st.saving = true;
  ui.stSave.disabled = true;
  try {
    const r = await api('PUT', storyPath('/' + encodeURIComponent(id)), body);
    toast('Story ' + r.thread_id + ': ' + storyWords({ premod: r.premod, closed: r.closed, until: r.until }) + '.');
    ui.stForm.reset();
    storySummary();
    if (gen === st.gen) storyPut(r);
  } catch (err) {
    // the API's message says what is wrong; its field, where to look
    const f = err.body && err.body.error && err.body.error.field;
    const input = { premod: ui.stPremod, closed: ui.stClosed, for_s: ui.stFor, until: ui.stFor, note: ui.stNote }[f] ||
      (err.code === 'bad_parameter' ? ui.stThread : null);
    storyFail(new Error('Not set: ' + err.message), input);
  } finally {
    st.saving = false;
    ui.stSave.disabled = false;
  }
}

function storyDisarm() {
  if (!st.armed) return;
  clearTimeout(st.armed.t);
  const b = st.armed.button;
  st.armed = null;
  b.classList.remove('armed');
  b.textContent = 'Remove';
}

async function removeStory(id, b) {
  if (!st.armed || st.armed.id !== id) {
    storyDisarm();
    st.armed = { id, button: b, t: setTimeout(storyDisarm, STORY_CONFIRM_MS) };
    b.classList.add('armed');
    b.textContent = 'Confirm remove';
    return;
  }
  storyDisarm();
  const gen = st.gen;
  b.disabled = true;
  storyClearError();
  try {
    const r = await api('DELETE', storyPath('/' + encodeURIComponent(id)));
    toast('Story ' + id + ' follows the site\'s settings again.');
    if (gen !== st.gen) return;
    const tr = storyTr(id);
    if (tr) tr.remove();
    if (r.deleted) st.total = Math.max(0, st.total - 1);
    storyCounts();
  } catch (e) {
    b.disabled = false;
    storyFail(new Error('Not removed: ' + e.message));
  }
}

function startStories() {
  for (const [k, id] of [['stTotal', 'st-total'], ['stForm', 'st-form'], ['stThread', 'st-thread'],
    ['stPremod', 'st-premod'], ['stClosed', 'st-closed'], ['stFor', 'st-for'], ['stNote', 'st-note'],
    ['stSave', 'st-save'], ['stSummary', 'st-summary'], ['stError', 'st-error'], ['stTable', 'st-table'],
    ['stRows', 'st-rows'], ['stEmpty', 'st-empty'], ['stMore', 'st-more']]) ui[k] = $(id);
  ui.stForm.addEventListener('submit', saveStory);
  ui.stForm.addEventListener('input', storySummary);
  ui.stForm.addEventListener('change', storySummary);
  ui.stMore.addEventListener('click', moreStories);
  storySummary();
}

// moderator.mjs - a moderator in headless Chromium works through modgate's
// held queue at /ui/ by keyboard.
//
//   node moderator.mjs BASE_URL MODERATOR_KEY BAD_KEY APPROVE_ID SPAM_ID XSS_ID WORD_ID [SCREENSHOT.png]
//
// It signs in with BAD_KEY first (and reads the error the page shows),
// then with MODERATOR_KEY; moves to APPROVE_ID with j/k and presses a,
// then to SPAM_ID and presses s; reads how the XSS_ID comment is shown,
// and whether any of its script ran, and the marks in WORD_ID (held for a
// suspect word); then selects the first two comments left
// (x, Shift+J), rejects both with r and undoes that with u. Prints one
// JSON line of what it saw.
// CHROMIUM overrides /usr/bin/chromium (Debian's package).
import { chromium } from 'playwright-core';
import { moveTo } from './keys.mjs';

const [base, key, badKey, approveId, spamId, xssId, wordId, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const out = { page_errors: [] };
const card = (id) => `li.item[data-id="${id}"]`;

try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (e) => out.page_errors.push(String(e)));
  page.on('dialog', (d) => { out.dialog = d.message(); d.dismiss(); });
  await page.goto(base + '/ui/');

  await page.fill('#key', badKey);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#signin-error:not([hidden])');
  out.bad_key_error = (await page.textContent('#signin-error')).trim();

  await page.fill('#key', key);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('li.item');
  out.held_shown = await page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));
  out.held_tab = (await page.textContent('#states button[aria-pressed=true]')).trim();
  out.marks = await page.$$eval(card(approveId) + ' mark', (ms) => ms.map((m) => [m.className, m.textContent]));
  out.word_marks = await page.$$eval(card(wordId) + ' mark', (ms) => ms.map((m) => [m.className, m.textContent]));

  // the XSS comment: shown as text, nothing of it ran
  out.xss_text = await page.textContent(card(xssId) + ' .body');
  out.xss_elements = await page.$$eval(card(xssId) + ' .body *', (es) => es.map((e) => e.tagName));
  out.xss_ran = await page.evaluate(() => window.__xss || null);

  await moveTo(page, approveId);
  await page.keyboard.press('a');
  await page.waitForSelector(card(approveId), { state: 'detached' });
  out.toast_after_approve = (await page.textContent('#toast')).trim();

  await moveTo(page, spamId);
  await page.keyboard.press('s');
  await page.waitForSelector(card(spamId), { state: 'detached' });
  await page.waitForFunction(() => /held \d+/.test(document.querySelector('#states button[aria-pressed=true]').textContent));
  out.held_tab_after = (await page.textContent('#states button[aria-pressed=true]')).trim();
  out.left = await page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));
  out.xss_ran_end = await page.evaluate(() => window.__xss || null);
  await page.waitForSelector('li.item.current #author[data-state=ready]'); // the author panel, read
  if (shot) await page.screenshot({ path: shot, fullPage: true });

  // bulk: select the two left (x on the first, Shift+J to extend), reject both, then undo
  await moveTo(page, out.left[0]);
  await page.keyboard.press('x');
  await page.keyboard.press('Shift+J');
  out.selected = await page.$$eval('li.item.selected', (ls) => ls.map((l) => l.dataset.id));
  await page.keyboard.press('r');
  await page.waitForFunction((n) => document.querySelectorAll('li.item').length === n, out.left.length - 2);
  out.after_reject = await page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));
  await page.keyboard.press('u');
  await page.waitForFunction((n) => document.querySelectorAll('li.item').length === n, out.left.length);
  out.after_undo = await page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));

  // an empty state: nothing is rejected any more
  await page.click('#states button[data-state=rejected]');
  await page.waitForSelector('#empty:not([hidden])');
  out.rejected_empty = (await page.textContent('#empty')).trim();
  out.rejected_items = await page.$$eval('li.item', (ls) => ls.length);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');

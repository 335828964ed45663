// moderator-authors.mjs - a moderator in headless Chromium reads a held
// comment's author history on its card at /ui/ and trusts, bans and
// resets the author by key and by mouse.
//
//   node moderator-authors.mjs BASE_URL MODERATOR_KEY THREAD AUTHOR_COMMENT_ID NO_AUTHOR_COMMENT_ID [SCREENSHOT.png]
//
// It signs in, filters the queue to THREAD, focuses NO_AUTHOR_COMMENT_ID
// (a comment without author id or e-mail) and presses Shift+T there,
// then focuses AUTHOR_COMMENT_ID and reads its author panel. It talks
// with the test in steps: after each step it prints one JSON line of what
// it saw and waits for a line on stdin before going on, so that the test
// can read the author through the API in between:
//   "panel"   the panels of both comments, before any change
//   "trusted" after Shift+T
//   "armed"   after one Shift+B (nothing may be banned yet)
//   "banned"  after the second Shift+B
//   "normal"  after clicking the Normal button (the last line; no wait)
// steps.mjs gives the browser, the steps and the queue moves.
import { errors, launch, moveTo, step } from './steps.mjs';

const [base, key, thread, authorId, noAuthorId, shot] = process.argv.slice(2);
const browser = await launch();
const card = (id) => `li.item[data-id="${id}"]`;

// The author panel of the focused comment 'id', once its history is read.
async function panel(page, id) {
  await page.waitForSelector(card(id) + ' #author[data-state=ready]');
  return page.$eval('#author', (p) => {
    const t = (sel) => { const e = p.querySelector(sel); return e ? e.textContent.trim() : null; };
    return {
      in_card: p.closest('li.item').dataset.id,
      key: p.dataset.key,
      status: t('.a-status'),
      all: t('.a-all'),
      recent: t('.a-recent'),
      none: t('.a-none'),
      prefix: t('.a-prefix'),
      net_recent: t('.a-net-recent'),
      last: [...p.querySelectorAll('.a-last li')].map((li) => [li.dataset.id, li.querySelector('.a-state').textContent,
        li.querySelector('time').dateTime, li.querySelector('time').textContent]),
      buttons: [...p.querySelectorAll('.a-actions button')].map((b) => [b.dataset.status, b.textContent, b.disabled]),
      msg: t('.a-msg'),
    };
  });
}

const statusIs = (s) => document.querySelector('#author .a-status') &&
  document.querySelector('#author .a-status').textContent === s;

try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { errors.push('dialog: ' + d.message()); d.dismiss(); });
  await page.goto(base + '/ui/');
  await page.fill('#key', key);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');

  // only this test's thread
  await page.fill('#thread', thread);
  await page.$eval('#thread', (e) => { e.dispatchEvent(new Event('change')); e.blur(); });
  await page.waitForFunction((ids) => {
    const shown = [...document.querySelectorAll('li.item')].map((l) => l.dataset.id);
    return shown.length === ids.length && ids.every((i) => shown.includes(i));
  }, [authorId, noAuthorId]);
  const shown = await page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));

  // a comment without an author: the network only, and nothing to trust
  await moveTo(page, noAuthorId);
  const noAuthor = await panel(page, noAuthorId);
  await page.keyboard.press('Shift+T');
  await page.waitForSelector('#toast:not([hidden])');
  const noAuthorToast = (await page.textContent('#toast')).trim();

  await moveTo(page, authorId);
  const before = await panel(page, authorId);
  const panels = await page.$$eval('#author', (ps) => ps.length);
  await step('panel', { shown, no_author: noAuthor, no_author_toast: noAuthorToast, author: before, panels });

  await page.keyboard.press('Shift+T');
  await page.waitForFunction(statusIs, 'trusted');
  await page.waitForSelector('#author[data-state=ready]');
  const trusted = await panel(page, authorId);
  trusted.toast = (await page.textContent('#toast')).trim();
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  await step('trusted', { author: trusted });

  await page.keyboard.press('Shift+B');
  await page.waitForSelector('#author .a-msg.armed');
  const armed = await panel(page, authorId);
  await step('armed', { author: armed });

  await page.keyboard.press('Shift+B');
  await page.waitForFunction(statusIs, 'banned');
  await page.waitForSelector('#author[data-state=ready]');
  const banned = await panel(page, authorId);
  await step('banned', { author: banned });

  // by mouse: back to normal
  await page.click('#author button[data-status=normal]');
  await page.waitForFunction(statusIs, 'normal');
  await page.waitForSelector('#author[data-state=ready]');
  const normal = await panel(page, authorId);
  await step('normal', { author: normal }, true);
} finally {
  await browser.close();
}
process.exit(0);

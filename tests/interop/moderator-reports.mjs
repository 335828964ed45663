// moderator-reports.mjs - a moderator in headless Chromium opens the
// "reported" tab of modgate's /ui/ (published comments readers reported,
// api.md §2.16), reads each card's reports, and decides them by keyboard.
//
//   node moderator-reports.mjs BASE_URL MODERATOR_KEY THREAD REJECT_ID APPROVE_ID [SCREENSHOT.png]
//
// It signs in, filters to THREAD, clicks the reported tab, and reads the
// tab and every card (the "published" mark, the reports' sum, the last
// reports with their time, reason and note, and any element made of a
// note). It talks with the test in steps: after each step it prints one
// JSON line of what it saw and waits for "go" on stdin, so that the test
// can read the comments through the API in between:
//   "cards"    the reported tab and its cards, before any action
//   "rejected" after j/k to REJECT_ID and r
//   "undone"   after u (the API's undo: the comment goes to held)
//   "approved" after j/k to APPROVE_ID and a (the last line; no wait)
// steps.mjs gives the browser, the steps and the queue moves.
import { errors, launch, moveTo, step } from './steps.mjs';

const [base, key, thread, rejectId, approveId, shot] = process.argv.slice(2);
const browser = await launch();
const card = (id) => `li.item[data-id="${id}"]`;

const shownIds = (page) => page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));
const tab = async (page) => (await page.textContent('#states button[aria-pressed=true]')).trim();

// What a reported card shows of its reports.
function cardsSeen(page) {
  return page.$$eval('li.item', (ls) => ls.map((l) => {
    const t = (sel) => { const e = l.querySelector(sel); return e ? e.textContent.trim() : null; };
    return {
      id: l.dataset.id,
      reported_class: l.classList.contains('reported'),
      published: t('.reader-reports .r-published'),
      sum: t('.reader-reports .r-sum'),
      last: [...l.querySelectorAll('.r-last li')].map((li) => [li.querySelector('time').dateTime,
        li.querySelector('time').textContent, li.querySelector('.r-reason').textContent,
        li.querySelector('.r-note') ? li.querySelector('.r-note').textContent : null]),
      note_elements: [...l.querySelectorAll('.r-note *')].map((e) => e.tagName),
      body: t('.body'),
      author: t('.meta .author'),
    };
  }));
}

try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { errors.push('dialog: ' + d.message()); d.dismiss(); });
  await page.goto(base + '/ui/');
  await page.fill('#key', key);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#states button[data-state=reported]');
  const tabs = await page.$$eval('#states button', (bs) => bs.map((b) => b.textContent.trim()));

  // only this test's thread, then the reported tab
  await page.fill('#thread', thread);
  await page.$eval('#thread', (e) => { e.dispatchEvent(new Event('change')); e.blur(); });
  await page.click('#states button[data-state=reported]');
  await page.waitForFunction((ids) => {
    const b = document.querySelector('#states button[aria-pressed=true]');
    const shown = [...document.querySelectorAll('li.item')].map((l) => l.dataset.id);
    return b && b.dataset.state === 'reported' && shown.length === ids.length && ids.every((i) => shown.includes(i));
  }, [rejectId, approveId]);
  await page.waitForSelector('li.item.current #author[data-state=ready]');
  const seen = { tabs, tab: await tab(page), shown: await shownIds(page), cards: await cardsSeen(page),
    attention: await page.$eval('#states button[data-state=reported]', (b) => b.classList.contains('attention')) };
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  await step('cards', seen);

  // r on one of them: it leaves the tab, and the count goes down
  await moveTo(page, rejectId);
  await page.keyboard.press('r');
  await page.waitForSelector(card(rejectId), { state: 'detached' });
  await page.waitForFunction(
    (t) => document.querySelector('#states button[aria-pressed=true]').textContent.trim() !== t, seen.tab);
  await step('rejected', { tab: await tab(page), shown: await shownIds(page),
    toast: (await page.textContent('#toast')).trim() });

  // u: the API's undo of a decision on a reported comment holds it
  await page.keyboard.press('u');
  await page.waitForFunction(() => /^Undone/.test(document.querySelector('#toast').textContent));
  await page.waitForSelector('#loading', { state: 'hidden' });
  await step('undone', { tab: await tab(page), shown: await shownIds(page),
    toast: (await page.textContent('#toast')).trim(),
    held_tab: (await page.textContent('#states button[data-state=held]')).trim() });

  // a keeps the other one published: the tab is empty then
  await moveTo(page, approveId);
  await page.keyboard.press('a');
  await page.waitForSelector(card(approveId), { state: 'detached' });
  await page.waitForSelector('#empty:not([hidden])');
  await step('approved', { tab: await tab(page), shown: await shownIds(page),
    empty: (await page.textContent('#empty')).trim() }, true);
} finally {
  await browser.close();
}
process.exit(0);

// ui-act.mjs - a moderator in headless Chromium signs in to modgate's
// /ui/ and decides held comments by keyboard: a (approve), s (spam) or
// r (reject), one key per comment, each waited for until its card leaves
// the held list.
//
//   node ui-act.mjs BASE_URL MODERATOR_KEY ID=KEY [ID=KEY ...]
//
// Prints one JSON line: the held ids the page showed first, the page's
// errors, and the toast after the last action. CHROMIUM overrides
// /usr/bin/chromium (Debian's package).
import { chromium } from 'playwright-core';
import { moveTo } from './keys.mjs';

const [base, key, ...acts] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const out = { page_errors: [] };
const card = (id) => `li.item[data-id="${id}"]`;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (e) => out.page_errors.push(String(e)));
  await page.goto(base + '/ui/');
  await page.fill('#key', key);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('li.item');
  out.held_shown = await page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));
  for (const act of acts) {
    const [id, press] = act.split('=');
    await moveTo(page, id, 200); // j/k until it is the current one, as a moderator moves
    await page.keyboard.press(press);
    await page.waitForSelector(card(id), { state: 'detached' });
  }
  out.toast = (await page.textContent('#toast')).trim();
} catch (e) {
  out.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));

// operator-stories.mjs - an editor in headless Chromium sets a story's own
// settings in the Stories panel of modgate's operator page at /ui/ (admin
// key): pre-moderates it for a day (the form's defaults), pages through
// the stories, tries two bad inputs, and removes the story's settings with
// two clicks.
//
//   node operator-stories.mjs BASE_URL ADMIN_KEY THREAD NOTE [SCREENSHOT.png]
//
// It talks with the test in steps: after each step it prints one JSON line
// of what it saw and waits for a line "go" on stdin before going on, so
// that the test can read the API in between:
//   "listed"  the panel's first page and the form's defaults
//   "added"   after setting THREAD with the defaults and NOTE
//   "paged"   after "More"
//   "bad"     after an empty thread id, then neither premod nor closed
//   "armed"   after one click on THREAD's Remove (nothing removed yet)
//   "removed" after the second click (the last line; no wait)
// steps.mjs gives the browser, the steps and the queue moves.
import { errors, launch, step } from './steps.mjs';

const [base, key, thread, note, shot] = process.argv.slice(2);
const browser = await launch();

// The table's rows: thread id, the six cells' text, until's ISO time,
// pinned (set here, its page not read yet), the Remove button's text.
const rows = (page) => page.$$eval('#st-rows tr', (trs) => trs.map((tr) => ({
  id: tr.dataset.thread,
  cells: [...tr.children].slice(0, 6).map((td) => td.textContent.trim()),
  until: tr.querySelector('.st-until time') ? tr.querySelector('.st-until time').dateTime : null,
  pinned: tr.classList.contains('pinned'),
  remove: tr.querySelector('.st-remove').textContent,
})));
const text = async (page, sel) => ((await page.textContent(sel)) || '').trim();
const visible = (page, sel) => page.$eval(sel, (e) => !e.hidden);
const row = `#st-rows tr[data-thread="${thread}"]`;

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { errors.push('dialog: ' + d.message()); d.dismiss(); });
  await page.goto(base + '/ui/');
  await page.fill('#key', key);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#pages:not([hidden])');
  await page.click('#pages button[data-page=operator]');
  await page.waitForSelector('#st-rows tr');
  await step('listed', {
    rows: await rows(page),
    more: await visible(page, '#st-more'),
    total: await text(page, '#st-total'),
    form: {
      premod: await page.inputValue('#st-premod'),
      for: await page.inputValue('#st-for'),
      for_text: await page.$eval('#st-for', (s) => s.selectedOptions[0].textContent),
      closed: await page.isChecked('#st-closed'),
      summary: await text(page, '#st-summary'),
    },
  });

  // the newsroom's usual: the thread id and a note, the rest as it comes
  await page.fill('#st-thread', thread);
  await page.fill('#st-note', note);
  const summary = await text(page, '#st-summary');
  await page.click('#st-save');
  await page.waitForSelector(row + '.just-set');
  const added = (await rows(page)).find((r) => r.id === thread);
  if (shot) await page.locator('#stories-panel').screenshot({ path: shot });
  await step('added', {
    summary,
    row: added,
    until_local: added.until ? await page.evaluate((iso) => new Date(iso).toLocaleString(), added.until) : null,
    first: (await rows(page))[0].id,
    count: (await rows(page)).length,
    toast: await text(page, '#toast'),
    error_shown: await visible(page, '#st-error'),
    form_after: { thread: await page.inputValue('#st-thread'), note: await page.inputValue('#st-note'),
      premod: await page.inputValue('#st-premod'), for: await page.inputValue('#st-for') },
    total: await text(page, '#st-total'),
  });

  await page.click('#st-more');
  await page.waitForSelector('#st-more', { state: 'hidden' });
  await step('paged', { rows: await rows(page), total: await text(page, '#st-total') });

  // an empty thread id: said on the page, nothing sent
  await page.fill('#st-thread', '');
  await page.click('#st-save');
  await page.waitForSelector('#st-error:not([hidden])');
  const empty = await text(page, '#st-error');
  const emptyInvalid = await page.getAttribute('#st-thread', 'aria-invalid');
  // neither pre-moderation nor closed: the API's message
  await page.fill('#st-thread', 'bad-story');
  await page.selectOption('#st-premod', '');
  await page.click('#st-save');
  await page.waitForFunction(() => /^Not set:/.test(document.querySelector('#st-error').textContent));
  await step('bad', {
    empty,
    empty_invalid: emptyInvalid,
    api: await text(page, '#st-error'),
    summary: await text(page, '#st-summary'),
    count: (await rows(page)).length,
  });

  // Remove: the first click only asks
  await page.click(row + ' .st-remove');
  await page.waitForFunction((sel) => document.querySelector(sel).textContent === 'Confirm remove',
    row + ' .st-remove');
  await step('armed', { row: (await rows(page)).find((r) => r.id === thread) });

  await page.click(row + ' .st-remove');
  await page.waitForSelector(row, { state: 'detached' });
  await step('removed', {
    ids: (await rows(page)).map((r) => r.id),
    toast: await text(page, '#toast'),
    total: await text(page, '#st-total'),
    error_shown: await visible(page, '#st-error'),
  }, true);
} catch (e) {
  process.stderr.write(String(e && e.stack || e) + '\n');
  await browser.close();
  process.exit(1);
}
await browser.close();
process.exit(0);

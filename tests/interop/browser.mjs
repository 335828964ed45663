// browser.mjs - a reader in headless Chromium posts a comment on the demo
// article (docker/demo/demo_cms.py), is challenged, ticks the real ALTCHA
// widget, and posts again.
//
//   node browser.mjs URL "comment text" [SCREENSHOT.png]
//
// SCREENSHOT.png shows the published comment, SCREENSHOT-widget.png the
// challenge page with the widget ticked.
//
// Prints one JSON line: the first and the final decision the page showed,
// the final reasons, and how long the widget took. CHROMIUM overrides
// /usr/bin/chromium (Debian's package).
import { chromium } from 'playwright-core';
import { tick } from './widget.mjs';

const [url, text, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // root in CI: Chromium's sandbox needs a user namespace it may not get
  args: ['--no-sandbox'],
});
const out = {};
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
  await page.goto(url);
  await page.fill('textarea[name=body]', text);
  await page.click('#post');
  await page.waitForSelector('[data-decision]');
  out.first = await page.getAttribute('[data-decision]', 'data-decision');
  if (out.first === 'challenge') {
    out.widget_ms = await tick(page);
    out.payload_bytes = (await page.inputValue('input[name=altcha]')).length;
    if (shot) await page.screenshot({ path: shot.replace(/\.png$/, '-widget.png'), fullPage: true });
    await page.click('#post');
    await page.waitForSelector('[data-decision]:not([data-decision=challenge])');
  }
  out.final = await page.getAttribute('[data-decision]', 'data-decision');
  out.reasons = ((await page.getAttribute('[data-decision]', 'data-reasons')) || '').split(' ').filter(Boolean);
  out.score = Number(await page.getAttribute('[data-decision]', 'data-score'));
  out.text = (await page.textContent('[data-decision]')).trim();
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');

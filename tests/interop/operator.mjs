// operator.mjs - an operator in headless Chromium tunes a site's policy
// on modgate's page at /ui/ (admin key).
//
//   node operator.mjs BASE_URL ADMIN_KEY [SCREENSHOT.png]
//
// It signs in, opens "Policy & tuning", reads the chart and the version
// history, types inverted thresholds (and reads the error the page shows
// as you type), then valid ones, runs a dry run, saves with a note, and
// reverts to the config file's version. Prints one JSON line of what it saw.
// CHROMIUM overrides /usr/bin/chromium (Debian's package).
import { chromium } from 'playwright-core';

const [base, key, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const out = { page_errors: [] };
const versions = (page) => page.$$eval('#versions li', (ls) => ls.map((l) => [Number(l.dataset.version),
  l.textContent.replace(/\s+/g, ' ').trim()]));

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => out.page_errors.push(String(e)));
  await page.goto(base + '/ui/');
  await page.fill('#key', key);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#pages:not([hidden])');
  await page.click('#pages button[data-page=operator]');
  await page.waitForSelector('#chart polyline', { state: 'attached' });
  await page.waitForSelector('#versions li');
  out.version_text = (await page.textContent('#policy-version')).trim();
  out.labelled = (await page.textContent('#t-labelled')).trim();
  out.series = await page.$$eval('#chart polyline', (ps) => ps.map((p) => [p.dataset.series, Number(p.dataset.points)]));
  out.current_marker = Number(await page.getAttribute('#chart line.marker.current', 'data-value'));
  out.versions_before = await versions(page);
  out.save_disabled_at_start = await page.isDisabled('#save');

  // inverted bands: refused as you type, with the field named; save stays off
  await page.fill('#q-reject', '0.4');
  await page.fill('#q-hold', '0.9');
  await page.waitForSelector('#policy-check.error');
  await page.waitForFunction(() => /thresholds/.test(document.querySelector('#policy-check').textContent));
  out.invalid_message = (await page.textContent('#policy-check')).trim();
  out.save_disabled_when_invalid = await page.isDisabled('#save');
  // broken JSON is caught before modgate is asked
  const text = await page.inputValue('#policy-text');
  await page.fill('#policy-text', text.replace(/^\{/, '{,'));
  await page.waitForFunction(() => /^JSON:/.test(document.querySelector('#policy-check').textContent));
  out.json_message = (await page.textContent('#policy-check')).trim();
  await page.fill('#policy-text', text);

  // valid: hold at 0.7, reject at 0.97
  await page.fill('#q-reject', '0.97');
  await page.fill('#q-hold', '0.7');
  await page.waitForFunction(() => /Valid/.test(document.querySelector('#policy-check').textContent));
  out.valid_message = (await page.textContent('#policy-check')).trim();
  out.proposed_marker = Number(await page.getAttribute('#chart line.marker.proposed', 'data-value'));
  out.save_disabled_when_valid = await page.isDisabled('#save');

  await page.click('#dry-run');
  await page.waitForSelector('#dry-result:not([hidden]) .dry-sum');
  out.dry_changed = Number(await page.getAttribute('#dry-result', 'data-changed'));
  out.dry_summary = (await page.textContent('#dry-result .dry-sum')).trim();
  out.dry_sample = await page.$$eval('#dry-result table.sample tr[data-id]', (rs) => rs.map((r) => r.dataset.id));
  if (shot) await page.screenshot({ path: shot, fullPage: true });

  await page.fill('#policy-note', 'stricter before the election');
  await page.click('#save');
  await page.waitForFunction(() => document.querySelector('#versions li') &&
    document.querySelector('#versions li').dataset.version === '1');
  out.version_text_after_save = (await page.textContent('#policy-version')).trim();
  out.versions_after_save = await versions(page);
  out.toast = (await page.textContent('#toast')).trim();

  await page.click('#versions li[data-version="0"] button');
  await page.waitForFunction(() => document.querySelector('#versions li').dataset.version === '2');
  out.versions_after_revert = await versions(page);
  out.hold_after_revert = await page.inputValue('#q-hold');
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');

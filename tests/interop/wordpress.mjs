// wordpress.mjs - a reader and an admin in headless Chromium on the test
// WordPress of tests/integration/test_wordpress.py.
//
//   node wordpress.mjs challenge POST_URL "comment text" AUTHOR EMAIL SHOT.png
//     opens the post, sends the comment form, expects modgate's challenge
//     page, ticks the ALTCHA widget and sends the comment again. Prints
//     {first_status, widget_ms, final_url, final_status}; SHOT.png is the
//     challenge page with the widget ticked.
//   node wordpress.mjs screenshot SITE_URL USER PASS PATH SHOT.png
//     logs into wp-admin and takes a picture of PATH (e.g. the comments).
//
// CHROMIUM overrides /usr/bin/chromium (Debian's package).
import { chromium } from 'playwright-core';
import { tick } from './widget.mjs';

const [mode, ...args] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // root in CI: Chromium's sandbox needs a user namespace it may not get
  args: ['--no-sandbox'],
});
const out = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
  if (mode === 'challenge') {
    const [postUrl, text, author, email, shot] = args;
    await page.goto(postUrl);
    await page.fill('#comment', text);
    await page.fill('#author', author);
    await page.fill('#email', email);
    const [first] = await Promise.all([page.waitForNavigation(), page.click('#submit')]);
    out.first_status = first.status();
    await page.waitForSelector('altcha-widget .altcha-checkbox', { timeout: 30000 });
    out.widget_ms = await tick(page);
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    const [final] = await Promise.all([page.waitForNavigation(), page.click('#modgate-submit')]);
    out.final_status = final.status();
    out.final_url = page.url();
  } else if (mode === 'screenshot') {
    const [site, user, pass, path, shot] = args;
    await page.goto(site + '/wp-login.php');
    await page.fill('#user_login', user);
    await page.fill('#user_pass', pass);
    await Promise.all([page.waitForNavigation(), page.click('#wp-submit')]);
    await page.goto(site + path);
    await page.waitForSelector('#the-comment-list');
    out.rows = await page.locator('#the-comment-list tr').count();
    out.summaries = await page.locator('.modgate-summary').allTextContents();
    await page.screenshot({ path: shot });
  } else {
    throw new Error('mode: challenge or screenshot');
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');

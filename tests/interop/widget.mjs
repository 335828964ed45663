// widget.mjs - ticks the ALTCHA widget on a page in Chromium (playwright)
// and waits for its solution, as a reader does: shared by browser.mjs
// (the demo article) and wordpress.mjs (the WordPress plugin's page).
//
// tick(page) returns the milliseconds from the click to the solution in
// the form's `altcha` field.
export async function tick(page) {
  const t0 = Date.now();
  // the tick mark covers the checkbox itself
  await page.click('altcha-widget .altcha-checkbox');
  await page.waitForFunction(() => {
    const f = document.querySelector('input[name=altcha]');
    return f && f.value.length > 0;
  }, null, { timeout: 60000 });
  return Date.now() - t0;
}

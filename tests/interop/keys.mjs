// keys.mjs - moving through the moderator page's queue by keyboard, for
// every browser script that does (ui-act.mjs, moderator.mjs, and the
// step-by-step ones through steps.mjs). No side effect on import.

// Press j or k until the comment 'id' is the current one, at most
// 'tries' presses. Throws when it is not in the list, or not reached.
export async function moveTo(page, id, tries = 60) {
  for (let n = 0; n < tries; n++) {
    const cur = await page.getAttribute('li.item.current', 'data-id');
    if (cur === id) return;
    const ids = await page.$$eval('li.item', (ls) => ls.map((l) => l.dataset.id));
    if (!ids.includes(id)) throw new Error('not shown: ' + id);
    await page.keyboard.press(ids.indexOf(id) > ids.indexOf(cur) ? 'j' : 'k');
  }
  throw new Error('could not reach ' + id);
}

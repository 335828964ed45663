// steps.mjs - what the step-by-step browser scripts share
// (moderator-authors.mjs, moderator-reports.mjs, operator-stories.mjs;
// tests/integration/harness.py's StepBrowser drives them): Chromium,
// the page errors seen, a step that prints what it saw as one JSON line
// and waits for "go" on stdin, and keyboard moves through the queue.
// CHROMIUM overrides /usr/bin/chromium (Debian's package).
import { chromium } from 'playwright-core';
import readline from 'node:readline';

export const errors = [];
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

export function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
}

// Print what a step saw, and wait for the test to read the API (not after the last).
export async function step(name, seen, last) {
  process.stdout.write(JSON.stringify(Object.assign({ step: name, page_errors: errors }, seen)) + '\n');
  if (last) return;
  const l = await lines.next();
  if (l.done || l.value.trim() !== 'go') throw new Error('the test said ' + JSON.stringify(l.value));
}

export { moveTo } from './keys.mjs';

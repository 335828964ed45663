// altcha.mjs - ALTCHA's own server library (npm altcha-lib 2.x) against modgate.
//
//   node altcha.mjs solve            stdin: a challenge JSON; stdout: the widget's payload (base64)
//   node altcha.mjs verify SECRET    stdin: a payload (base64); stdout: verifySolution's result JSON
//   node altcha.mjs verify-widget-lib SECRET   the same with the server functions the widget
//                                    package ships (altcha/lib)
//
// "solve" is what the widget's workers do; the verifiers are ALTCHA's
// own, used to show that they agree with modgate's signatures, and what
// one of them accepts that modgate refuses.
import { solveChallenge, verifySolution } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import * as widgetLib from 'altcha/lib';

async function stdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').trim();
}

const [cmd, secret] = process.argv.slice(2);
const input = await stdin();
if (cmd === 'solve') {
  const challenge = JSON.parse(input);
  const solution = await solveChallenge({ challenge, deriveKey, timeout: 60000 });
  if (!solution) {
    console.error('not solved');
    process.exit(1);
  }
  const payload = { challenge, solution };
  process.stdout.write(Buffer.from(JSON.stringify(payload)).toString('base64') + '\n');
} else if (cmd === 'verify' || cmd === 'verify-widget-lib') {
  const { challenge, solution } = JSON.parse(Buffer.from(input, 'base64').toString('utf8'));
  const result = cmd === 'verify'
    ? await verifySolution({ challenge, solution, deriveKey, hmacSignatureSecret: secret })
    : await widgetLib.verifySolution({ challenge, solution, deriveKey: widgetLib.pbkdf2.deriveKey,
      hmacSignatureSecret: secret });
  process.stdout.write(JSON.stringify(result) + '\n');
} else {
  console.error('usage: node altcha.mjs solve | verify SECRET');
  process.exit(2);
}

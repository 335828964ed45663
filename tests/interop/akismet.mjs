// akismet.mjs - the published npm Akismet client ("akismet" 2.0.7) against modgate.
//
//   node akismet.mjs PORT KEY WRONG_KEY   stdin: JSON {ham, spam} (two comments, the
//                                         client's field names); stdout: JSON of what
//                                         the client reported for each call
//
// Two clients, as a site would set them up: one pointed at 127.0.0.1 with
// "endPoint" (the client then sends no key with comment calls: the site
// adds api_key to the comment, lib/index.js l.16-24, 78-90), and one with
// the key as the first label of the host, as the client does by default
// ("KEY.host"); that needs wildcard DNS, which this script stands in for
// by answering *.localhost with 127.0.0.1 (dns.lookup, which node's http
// uses). Nothing else is changed: the requests are the client's own.
import dns from 'node:dns';
import akismet from 'akismet';

const realLookup = dns.lookup;
dns.lookup = (host, opts, cb) => {
  if (typeof opts === 'function') [opts, cb] = [{}, opts];
  if (host.endsWith('.localhost')) {
    if (opts && opts.all) return process.nextTick(cb, null, [{ address: '127.0.0.1', family: 4 }]);
    return process.nextTick(cb, null, '127.0.0.1', 4);
  }
  return realLookup(host, opts, cb);
};

async function stdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

// The client's callbacks as promises: [err, result].
const call = (client, method, ...args) =>
  new Promise((resolve) => client[method](...args, (err, r) => resolve(err ? `error: ${err.message}` : r ?? null)));

const [port, key, wrongKey] = process.argv.slice(2);
const { ham, spam } = JSON.parse(await stdin());
const blog = 'https://news.example';
const direct = akismet.client({ blog, apiKey: key, host: '127.0.0.1', endPoint: '127.0.0.1', port: Number(port) });
const wrong = akismet.client({ blog, apiKey: wrongKey, host: '127.0.0.1', endPoint: '127.0.0.1', port: Number(port) });
const byHost = akismet.client({ blog, apiKey: key, host: 'localhost', port: Number(port) });
const withKey = (c) => ({ ...c, api_key: key });
const out = {
  verify_valid: await call(direct, 'verifyKey'),
  verify_invalid: await call(wrong, 'verifyKey'),
  ham: await call(direct, 'checkComment', withKey(ham)),
  spam: await call(direct, 'checkComment', withKey(spam)),
  host_ham: await call(byHost, 'checkComment', { ...ham }),
  host_spam: await call(byHost, 'checkComment', { ...spam }),
  submit_spam: await call(direct, 'submitSpam', withKey(ham)),
  submit_ham: await call(byHost, 'submitHam', { ...ham }),
};
process.stdout.write(JSON.stringify(out) + '\n');

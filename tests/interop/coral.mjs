// coral.mjs - Coral's external moderation phase, as Coral 9.11.8 runs it, against modgate.
//
//   node coral.mjs send     stdin: a JSON array of cases; stdout: a JSON array of results
//   node coral.mjs bench URL SECRET N    N sequential requests; stdout: latency figures (JSON)
//
// A case is {url, secrets: [...], comment: {body, parentID}, author: {id, role},
// story: {id, url}, siteID, tenantID, tenantDomain, action, tamper, signature}:
// "tamper" changes the body after signing; "signature" (a string, or null for
// none) replaces the header Coral would send; "extraFields" are added to the
// request (fields a later Coral may send); "rawBody" is sent (and signed)
// instead of Coral's body.
//
// Everything below follows coralproject/talk @ 8bf2ad7 (release 9.11.8):
// - the request object, built field by field as processPhase does, and the
//   handling of the answer (non-2xx: phase skipped; 204, "" or "{}": no
//   opinion; else JSON.parse + validateResponse):
//   server/src/core/server/services/comments/pipeline/phases/external.ts
// - the body (JSON.stringify(request, null, 2)), the headers (Content-Type,
//   X-Coral-Signature) and the User-Agent "Coral Moderation/<version>", no
//   redirects followed: server/src/core/server/services/fetch/fetch.ts
// - the signatures: server/src/core/server/models/settings/signingSecret/helpers.ts
//   (generateSignature, generateSignatures)
// - the enums: server/src/core/server/graph/schema/schema.graphql
// - joi 17.2.1: the version server/pnpm-lock.yaml locks.
import crypto from 'node:crypto';
import Joi from 'joi';

const VERSION = '9.11.8';

// GQLCOMMENT_STATUS, GQLREJECTION_REASON_CODE (schema.graphql l.3683, l.3714),
// ACTION_TYPE.FLAG (models/action/comment.ts), the two flag reasons and tags
// external.ts allows.
const GQLCOMMENT_STATUS = { NONE: 'NONE', APPROVED: 'APPROVED', REJECTED: 'REJECTED', PREMOD: 'PREMOD',
  SYSTEM_WITHHELD: 'SYSTEM_WITHHELD' };
const GQLREJECTION_REASON_CODE = { OFFENSIVE: 'OFFENSIVE', ABUSIVE: 'ABUSIVE', SPAM: 'SPAM',
  BANNED_WORD: 'BANNED_WORD', AD: 'AD', ILLEGAL_CONTENT: 'ILLEGAL_CONTENT',
  HARASSMENT_BULLYING: 'HARASSMENT_BULLYING', MISINFORMATION: 'MISINFORMATION', HATE_SPEECH: 'HATE_SPEECH',
  IRRELEVANT_CONTENT: 'IRRELEVANT_CONTENT', OTHER: 'OTHER' };
const ACTION_TYPE = { FLAG: 'FLAG' };
const GQLCOMMENT_FLAG_DETECTED_REASON = { COMMENT_DETECTED_TOXIC: 'COMMENT_DETECTED_TOXIC',
  COMMENT_DETECTED_SPAM: 'COMMENT_DETECTED_SPAM' };
const GQLTAG = { FEATURED: 'FEATURED', STAFF: 'STAFF' };

// ExternalModerationResponseSchema, copied from external.ts (9.11.8).
const ExternalModerationResponseSchema = Joi.object().keys({
  moderationAction: Joi.object()
    .optional()
    .keys({
      status: Joi.string()
        .only()
        .allow(...Object.keys(GQLCOMMENT_STATUS)),
      rejectionReason: Joi.object()
        .optional()
        .keys({
          code: Joi.string()
            .only()
            .allow(...Object.keys(GQLREJECTION_REASON_CODE)),
          legalGrounds: Joi.string().optional(),
          detailedExplanation: Joi.string().optional(),
          customReason: Joi.string().optional(),
        }),
    }),
  actions: Joi.array().items(
    Joi.object().keys({
      actionType: Joi.string().only().allow(ACTION_TYPE.FLAG).required(),
      reason: Joi.string()
        .only()
        .allow(
          GQLCOMMENT_FLAG_DETECTED_REASON.COMMENT_DETECTED_TOXIC,
          GQLCOMMENT_FLAG_DETECTED_REASON.COMMENT_DETECTED_SPAM
        )
        .required(),
    })
  ),
  status: Joi.string()
    .only()
    .allow(...Object.keys(GQLCOMMENT_STATUS)),
  tags: Joi.array().items(
    Joi.string().only().allow(GQLTAG.FEATURED, GQLTAG.STAFF).required()
  ),
});

// validateResponse, as in external.ts.
function validateResponse(body) {
  const { value, error: err } = ExternalModerationResponseSchema.validate(body, {
    stripUnknown: true,
    presence: 'optional',
    abortEarly: false,
  });
  if (err) throw err;
  return value;
}

// generateSignature / generateSignatures (helpers.ts): the secret string is the HMAC key.
function generateSignature(key, data) {
  return crypto.createHmac('sha256', key).update(data).digest().toString('hex');
}
function generateSignatures(secrets, data) {
  return secrets.map((secret) => generateSignature(secret, data)).map((s) => `sha256=${s}`).join(',');
}

// The request object in processPhase's order (format PLAIN_TEXT or HTML: the
// caller gives the body as Coral would have it).
function buildRequest(c) {
  return {
    action: c.action || 'NEW',
    comment: {
      body: c.comment.body,
      parentID: c.comment.parentID || null,
    },
    author: {
      id: c.author.id,
      role: c.author.role,
    },
    story: {
      id: c.story.id,
      url: c.story.url,
    },
    site: {
      id: c.siteID || 'a4bede88-2d2c-4424-bc18-4322a9e285a6',
    },
    tenantID: c.tenantID || '19ba5794-7eeb-4d46-a81b-c00c61672501',
    tenantDomain: c.tenantDomain || 'localhost',
  };
}

// One phase request as Coral sends it, and what Coral makes of the answer.
async function send(c) {
  const request = Object.assign(buildRequest(c), c.extraFields || {});
  // rawBody: a body Coral would never send, signed as Coral signs (malformed-request tests)
  let body = typeof c.rawBody === 'string' ? c.rawBody : JSON.stringify(request, null, 2);
  const signature = generateSignatures(c.secrets || [], body);
  const headers = {
    'User-Agent': `Coral Moderation/${VERSION}`,
    'Content-Type': 'application/json',
    'X-Coral-Signature': signature,
  };
  if (c.signature === null) delete headers['X-Coral-Signature'];
  else if (typeof c.signature === 'string') headers['X-Coral-Signature'] = c.signature;
  if (c.tamper) body = body.replace(c.tamper[0], c.tamper[1]);
  const t0 = process.hrtime.bigint();
  // fetch.ts: 10 s unless the phase sets its timeout (the admin form's default is 200 ms)
  const res = await fetch(c.url, { method: 'POST', headers, body, redirect: 'manual',
    signal: AbortSignal.timeout(c.timeout || 10000) });
  const text = await res.text();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const out = { status: res.status, text, ms, signature: headers['X-Coral-Signature'] ?? null, sent: body };
  if (!res.ok) return { ...out, outcome: 'skipped' };
  if (res.status === 204 || text === '' || text === '{}') return { ...out, outcome: 'no_opinion' };
  try {
    return { ...out, outcome: 'decided', value: validateResponse(JSON.parse(text)) };
  } catch (err) {
    return { ...out, outcome: 'invalid', error: String(err) };
  }
}

async function stdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'send') {
  const cases = JSON.parse(await stdin());
  const results = [];
  for (const c of cases) results.push(await send(c));
  process.stdout.write(JSON.stringify(results) + '\n');
} else if (cmd === 'bench') {
  const [url, secret, n] = [args[0], args[1], Number(args[2] || 500)];
  const ms = [];
  const outcomes = {};
  for (let i = 0; i < n; i++) {
    const r = await send({ url, secrets: [secret], comment: { body: `Reader comment number ${i}: the council vote on the bridge was closer than the article says.` },
      author: { id: `bench-author-${i % 50}`, role: 'COMMENTER' },
      story: { id: `bench-story-${i % 10}`, url: `https://news.example.org/story/${i % 10}` } });
    ms.push(r.ms);
    outcomes[r.outcome] = (outcomes[r.outcome] || 0) + 1;
  }
  ms.sort((a, b) => a - b);
  const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  process.stdout.write(JSON.stringify({ n, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: ms[ms.length - 1], outcomes }) + '\n');
} else {
  console.error('usage: node coral.mjs send | bench URL SECRET N');
  process.exit(2);
}

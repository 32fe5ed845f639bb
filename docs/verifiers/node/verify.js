// Verify a Hookline delivery in Node.js 18+ (built-in modules only).
//
// Check a captured request (header lines, an empty line, the body's exact bytes):
//   node verify.js SCHEME KEY REQUEST_FILE [SIGNATURE_HEADER [TIMESTAMP_HEADER]]
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");

const TOLERANCE_SECONDS = 300; // between the signed timestamp and this machine's clock

// The key is the secret's text as UTF-8 bytes, whatever it looks like. `body` is a Buffer.
function hmacHex(secret, ...parts) {
  const mac = crypto.createHmac("sha256", Buffer.from(secret, "utf8"));
  parts.forEach((part) => mac.update(part));
  return mac.digest("hex");
}

function same(expected, received) {
  const a = Buffer.from(expected);
  const b = Buffer.from(received || "");
  return a.length === b.length && crypto.timingSafeEqual(a, b); // constant time
}

function fresh(timestamp) {
  return /^\d+$/.test(timestamp || "") && Math.abs(Date.now() / 1000 - Number(timestamp)) <= TOLERANCE_SECONDS;
}

// `<hex HMAC-SHA256(secret, body)>`, no prefix.
function verifyHmacHex(secret, body, signature) {
  return same(hmacHex(secret, body), signature);
}

// The same check over JSON.stringify(req.body), as receivers behind express.json() often do.
// It only works while the parsed-and-reserialised JSON happens to equal the bytes that were
// signed; numbers such as 10.0 or 1e3, integers beyond 2^53, keys that look like integers
// (JavaScript moves them to the front) or any whitespace break it. Keep the raw body instead:
// express.json({ verify: (req, res, buf) => { req.rawBody = buf; } }) or express.raw().
function verifyHmacHexOfParsedBody(secret, parsedBody, signature) {
  return same(hmacHex(secret, JSON.stringify(parsedBody)), signature);
}

// `sha256=<hex HMAC-SHA256(secret, body)>` (GitHub's X-Hub-Signature-256 shape).
function verifyHmacPrefixed(secret, body, signature) {
  return same("sha256=" + hmacHex(secret, body), signature);
}

// `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`, the timestamp in its own header.
function verifyHmacTimestamped(secret, body, timestamp, signature) {
  return fresh(timestamp) && same("sha256=" + hmacHex(secret, `${timestamp}.`, body), signature);
}

// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`; during a rotation one `t=…,v1=…`
// pair per live secret, all with the same timestamp.
function verifyStripeStyle(secret, body, header) {
  const pairs = (header || "").split(",").map((item) => item.trim().split(/=(.*)/s));
  const timestamps = [...new Set(pairs.filter(([name]) => name === "t").map(([, value]) => value))];
  if (timestamps.length !== 1 || !fresh(timestamps[0])) return false;
  const expected = hmacHex(secret, `${timestamps[0]}.`, body);
  return pairs.some(([name, value]) => name === "v1" && same(expected, value));
}

// Standard Webhooks v1: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, key = the
// base64-decoded part of the secret after `whsec_`; several entries during a rotation.
function verifyStandard(secret, body, id, timestamp, signatures) {
  if (!fresh(timestamp)) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto.createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64");
  return (signatures || "").split(" ").some((entry) => {
    const [version, value] = entry.split(/,(.*)/s);
    return version === "v1" && same(expected, value);
  });
}

// Standard Webhooks v1a: `v1a,<base64 Ed25519 signature of "{id}.{timestamp}.{body}">`, checked
// with the webhook's public key `whpk_<base64>`; several entries during a rotation.
function verifyEd25519(publicKey, body, id, timestamp, signatures) {
  if (!fresh(timestamp)) return false;
  const raw = Buffer.from(publicKey.replace(/^whpk_/, ""), "base64");
  const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]);
  return (signatures || "").split(" ").some((entry) => {
    const [version, value] = entry.split(/,(.*)/s);
    return version === "v1a" && value !== undefined && crypto.verify(null, signed, key, Buffer.from(value, "base64"));
  });
}

// Header names in lower case, as Node's own req.headers has them.
function readRequest(path) {
  const raw = fs.readFileSync(path);
  const end = raw.indexOf("\n\n");
  const headers = {};
  for (const line of raw.subarray(0, end).toString("utf8").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body: raw.subarray(end + 2) };
}

function main([scheme, key, path, ...names]) {
  const { headers, body } = readRequest(path);
  const header = (name) => headers[name.toLowerCase()] || "";
  const standard = [header("webhook-id"), header("webhook-timestamp"), header("webhook-signature")];
  const checks = {
    standard: () => verifyStandard(key, body, ...standard),
    ed25519: () => verifyEd25519(key, body, ...standard),
    "hmac-hex": () => verifyHmacHex(key, body, header(names[0])),
    "hmac-hex-of-parsed-body": () => verifyHmacHexOfParsedBody(key, JSON.parse(body), header(names[0])),
    "hmac-prefixed": () => verifyHmacPrefixed(key, body, header(names[0])),
    "hmac-timestamped": () => verifyHmacTimestamped(key, body, header(names[1]), header(names[0])),
    "stripe-style": () => verifyStripeStyle(key, body, header(names[0])),
  };
  return checks[scheme]();
}

if (require.main === module) {
  const verified = main(process.argv.slice(2));
  console.log(verified ? "ok" : "FAILED");
  process.exit(verified ? 0 : 1);
}

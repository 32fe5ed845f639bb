<?php
// Verify a Hookline delivery in PHP 7.4+ (the hash and sodium extensions, built into Debian's php-cli).
//
// Check a captured request (header lines, an empty line, the body's exact bytes):
//   php verify.php SCHEME KEY REQUEST_FILE [SIGNATURE_HEADER [TIMESTAMP_HEADER]]
// In a receiver, the raw body is file_get_contents('php://input'), never json_encode($_POST).

const TOLERANCE_SECONDS = 300; // between the signed timestamp and this machine's clock

function is_fresh(string $timestamp): bool
{
    return ctype_digit($timestamp) && abs(time() - (int) $timestamp) <= TOLERANCE_SECONDS;
}

// `<hex HMAC-SHA256(secret, body)>`, no prefix. The key is the secret's text, whatever it looks like.
function verify_hmac_hex(string $secret, string $body, string $signature): bool
{
    return hash_equals(hash_hmac('sha256', $body, $secret), $signature); // constant time
}

// `sha256=<hex HMAC-SHA256(secret, body)>` (GitHub's X-Hub-Signature-256 shape).
function verify_hmac_prefixed(string $secret, string $body, string $signature): bool
{
    return hash_equals('sha256=' . hash_hmac('sha256', $body, $secret), $signature);
}

// `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`, the timestamp in its own header.
function verify_hmac_timestamped(string $secret, string $body, string $timestamp, string $signature): bool
{
    return is_fresh($timestamp)
        && hash_equals('sha256=' . hash_hmac('sha256', $timestamp . '.' . $body, $secret), $signature);
}

// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`; during a rotation one `t=…,v1=…`
// pair per live secret, all with the same timestamp.
function verify_stripe_style(string $secret, string $body, string $header): bool
{
    $timestamps = [];
    $signatures = [];
    foreach (explode(',', $header) as $item) {
        [$name, $value] = array_pad(explode('=', trim($item), 2), 2, '');
        if ($name === 't') {
            $timestamps[] = $value;
        } elseif ($name === 'v1') {
            $signatures[] = $value;
        }
    }
    $timestamps = array_values(array_unique($timestamps));
    if (count($timestamps) !== 1 || !is_fresh($timestamps[0])) {
        return false;
    }
    $expected = hash_hmac('sha256', $timestamps[0] . '.' . $body, $secret);
    foreach ($signatures as $signature) {
        if (hash_equals($expected, $signature)) {
            return true;
        }
    }
    return false;
}

// Standard Webhooks v1: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, key = the
// base64-decoded part of the secret after `whsec_`; several entries during a rotation.
function verify_standard(string $secret, string $body, string $id, string $timestamp, string $signatures): bool
{
    if (!is_fresh($timestamp)) {
        return false;
    }
    $key = base64_decode(preg_replace('/^whsec_/', '', $secret));
    $expected = base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $key, true));
    foreach (explode(' ', $signatures) as $entry) {
        [$version, $value] = array_pad(explode(',', $entry, 2), 2, '');
        if ($version === 'v1' && hash_equals($expected, $value)) {
            return true;
        }
    }
    return false;
}

// Standard Webhooks v1a: `v1a,<base64 Ed25519 signature of "{id}.{timestamp}.{body}">`, checked
// with the webhook's public key `whpk_<base64>`; several entries during a rotation.
function verify_ed25519(string $public_key, string $body, string $id, string $timestamp, string $signatures): bool
{
    $key = base64_decode(preg_replace('/^whpk_/', '', $public_key), true);
    if (!is_fresh($timestamp) || $key === false || strlen($key) !== SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES) {
        return false;
    }
    foreach (explode(' ', $signatures) as $entry) {
        [$version, $value] = array_pad(explode(',', $entry, 2), 2, '');
        $signature = base64_decode($value, true);
        if ($version === 'v1a' && $signature !== false && strlen($signature) === SODIUM_CRYPTO_SIGN_BYTES
            && sodium_crypto_sign_verify_detached($signature, "$id.$timestamp.$body", $key)) {
            return true;
        }
    }
    return false;
}

// Header names in lower case: HTTP header names ignore case.
function read_request(string $path): array
{
    [$head, $body] = explode("\n\n", file_get_contents($path), 2);
    $headers = [];
    foreach (explode("\n", $head) as $line) {
        [$name, $value] = array_pad(explode(':', $line, 2), 2, '');
        $headers[strtolower(trim($name))] = trim($value);
    }
    return [$headers, $body];
}

function main(string $scheme, string $key, string $path, string ...$names): bool
{
    [$headers, $body] = read_request($path);
    $header = fn (string $name): string => $headers[strtolower($name)] ?? '';
    $standard = [$header('webhook-id'), $header('webhook-timestamp'), $header('webhook-signature')];
    switch ($scheme) {
        case 'standard': return verify_standard($key, $body, ...$standard);
        case 'ed25519': return verify_ed25519($key, $body, ...$standard);
        case 'hmac-hex': return verify_hmac_hex($key, $body, $header($names[0]));
        case 'hmac-prefixed': return verify_hmac_prefixed($key, $body, $header($names[0]));
        case 'hmac-timestamped': return verify_hmac_timestamped($key, $body, $header($names[1]), $header($names[0]));
        case 'stripe-style': return verify_stripe_style($key, $body, $header($names[0]));
    }
    throw new InvalidArgumentException("unknown scheme $scheme");
}

if (PHP_SAPI === 'cli' && realpath($argv[0]) === __FILE__) {
    $verified = main(...array_slice($argv, 1));
    echo $verified ? "ok\n" : "FAILED\n";
    exit($verified ? 0 : 1);
}

// Verify a Hookline delivery in Java 17+ (the JDK only).
//
// Check a captured request (header lines, an empty line, the body's exact bytes):
//   javac Verify.java && java Verify SCHEME KEY REQUEST_FILE [SIGNATURE_HEADER [TIMESTAMP_HEADER]]

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.security.SignatureException;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.function.Function;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class Verify {
    static final long TOLERANCE_SECONDS = 300; // between the signed timestamp and this machine's clock
    // DER prefix of an X.509 SubjectPublicKeyInfo for a raw 32-byte Ed25519 key.
    static final byte[] ED25519_SPKI_PREFIX = HexFormat.of().parseHex("302a300506032b6570032100");

    static byte[] hmacSha256(byte[] key, byte[]... parts) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        for (byte[] part : parts) mac.update(part);
        return mac.doFinal();
    }

    /** The key is the secret's text as UTF-8 bytes, whatever it looks like. */
    static String hmacHex(String secret, byte[]... parts) throws GeneralSecurityException {
        return HexFormat.of().formatHex(hmacSha256(secret.getBytes(StandardCharsets.UTF_8), parts));
    }

    static boolean same(String expected, String received) { // constant time
        return MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8), received.getBytes(StandardCharsets.UTF_8));
    }

    static boolean fresh(String timestamp) {
        return timestamp.matches("\\d{1,18}")
            && Math.abs(System.currentTimeMillis() / 1000 - Long.parseLong(timestamp)) <= TOLERANCE_SECONDS;
    }

    static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** {@code <hex HMAC-SHA256(secret, body)>}, no prefix. */
    static boolean verifyHmacHex(String secret, byte[] body, String signature) throws GeneralSecurityException {
        return same(hmacHex(secret, body), signature);
    }

    /** {@code sha256=<hex HMAC-SHA256(secret, body)>} (GitHub's X-Hub-Signature-256 shape). */
    static boolean verifyHmacPrefixed(String secret, byte[] body, String signature) throws GeneralSecurityException {
        return same("sha256=" + hmacHex(secret, body), signature);
    }

    /** {@code sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>}, the timestamp in its own header. */
    static boolean verifyHmacTimestamped(String secret, byte[] body, String timestamp, String signature)
            throws GeneralSecurityException {
        return fresh(timestamp) && same("sha256=" + hmacHex(secret, utf8(timestamp + "."), body), signature);
    }

    /**
     * {@code t=<timestamp>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>}; during a rotation one
     * {@code t=…,v1=…} pair per live secret, all with the same timestamp.
     */
    static boolean verifyStripeStyle(String secret, byte[] body, String header) throws GeneralSecurityException {
        String timestamp = null;
        for (String item : header.split(",")) {
            String[] pair = item.trim().split("=", 2);
            if (pair[0].equals("t")) {
                String value = pair.length == 2 ? pair[1] : "";
                if (timestamp != null && !timestamp.equals(value)) return false;
                timestamp = value;
            }
        }
        if (timestamp == null || !fresh(timestamp)) return false;
        String expected = hmacHex(secret, utf8(timestamp + "."), body);
        for (String item : header.split(",")) {
            String[] pair = item.trim().split("=", 2);
            if (pair[0].equals("v1") && pair.length == 2 && same(expected, pair[1])) return true;
        }
        return false;
    }

    /**
     * Standard Webhooks v1: {@code v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>}, key = the
     * base64-decoded part of the secret after {@code whsec_}; several entries during a rotation.
     */
    static boolean verifyStandard(String secret, byte[] body, String id, String timestamp, String signatures)
            throws GeneralSecurityException {
        if (!fresh(timestamp)) return false;
        byte[] key = Base64.getDecoder().decode(secret.replaceFirst("^whsec_", ""));
        String expected = Base64.getEncoder().encodeToString(hmacSha256(key, utf8(id + "." + timestamp + "."), body));
        for (String entry : signatures.split(" ")) {
            String[] parts = entry.split(",", 2);
            if (parts[0].equals("v1") && parts.length == 2 && same(expected, parts[1])) return true;
        }
        return false;
    }

    /**
     * Standard Webhooks v1a: {@code v1a,<base64 Ed25519 signature of "{id}.{timestamp}.{body}">}, checked
     * with the webhook's public key {@code whpk_<base64>}; several entries during a rotation.
     */
    static boolean verifyEd25519(String publicKey, byte[] body, String id, String timestamp, String signatures)
            throws GeneralSecurityException {
        if (!fresh(timestamp)) return false;
        byte[] raw = Base64.getDecoder().decode(publicKey.replaceFirst("^whpk_", ""));
        byte[] spki = new byte[ED25519_SPKI_PREFIX.length + raw.length];
        System.arraycopy(ED25519_SPKI_PREFIX, 0, spki, 0, ED25519_SPKI_PREFIX.length);
        System.arraycopy(raw, 0, spki, ED25519_SPKI_PREFIX.length, raw.length);
        PublicKey key = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(spki));
        for (String entry : signatures.split(" ")) {
            String[] parts = entry.split(",", 2);
            if (!parts[0].equals("v1a") || parts.length != 2) continue;
            Signature verifier = Signature.getInstance("Ed25519");
            verifier.initVerify(key);
            verifier.update(utf8(id + "." + timestamp + "."));
            verifier.update(body);
            try {
                if (verifier.verify(Base64.getDecoder().decode(parts[1]))) return true;
            } catch (IllegalArgumentException | SignatureException malformed) {
                continue;
            }
        }
        return false;
    }

    public static void main(String[] args) throws Exception {
        byte[] raw = Files.readAllBytes(Path.of(args[2]));
        int end = 0;
        while (!(raw[end] == '\n' && raw[end + 1] == '\n')) end++;
        Map<String, String> headers = new HashMap<>(); // names in lower case: HTTP header names ignore case
        for (String line : new String(raw, 0, end, StandardCharsets.UTF_8).split("\n")) {
            String[] pair = line.split(":", 2);
            if (pair.length == 2) headers.put(pair[0].trim().toLowerCase(), pair[1].trim());
        }
        byte[] body = Arrays.copyOfRange(raw, end + 2, raw.length);
        String key = args[1];
        Function<Integer, String> named =
            index -> headers.getOrDefault(args[3 + index].toLowerCase(), "");
        String id = headers.getOrDefault("webhook-id", "");
        String timestamp = headers.getOrDefault("webhook-timestamp", "");
        String signatures = headers.getOrDefault("webhook-signature", "");
        boolean verified = switch (args[0]) {
            case "standard" -> verifyStandard(key, body, id, timestamp, signatures);
            case "ed25519" -> verifyEd25519(key, body, id, timestamp, signatures);
            case "hmac-hex" -> verifyHmacHex(key, body, named.apply(0));
            case "hmac-prefixed" -> verifyHmacPrefixed(key, body, named.apply(0));
            case "hmac-timestamped" -> verifyHmacTimestamped(key, body, named.apply(1), named.apply(0));
            case "stripe-style" -> verifyStripeStyle(key, body, named.apply(0));
            default -> throw new IllegalArgumentException("unknown scheme " + args[0]);
        };
        System.out.println(verified ? "ok" : "FAILED");
        System.exit(verified ? 0 : 1);
    }
}

// Verify a Hookline delivery in Go 1.19+ (the standard library only).
//
// Check a captured request (header lines, an empty line, the body's exact bytes):
//
//	go run verify.go SCHEME KEY REQUEST_FILE [SIGNATURE_HEADER [TIMESTAMP_HEADER]]
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const toleranceSeconds = 300 // between the signed timestamp and this machine's clock

// hmacSHA256: the key is the secret's text as bytes, whatever it looks like.
func hmacSHA256(key []byte, parts ...[]byte) []byte {
	mac := hmac.New(sha256.New, key)
	for _, part := range parts {
		mac.Write(part)
	}
	return mac.Sum(nil)
}

func same(expected, received string) bool {
	return hmac.Equal([]byte(expected), []byte(received)) // constant time
}

func fresh(timestamp string) bool {
	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	age := time.Now().Unix() - seconds
	return err == nil && seconds >= 0 && age <= toleranceSeconds && age >= -toleranceSeconds
}

// VerifyHMACHex checks `<hex HMAC-SHA256(secret, body)>`, no prefix.
func VerifyHMACHex(secret string, body []byte, signature string) bool {
	return same(hex.EncodeToString(hmacSHA256([]byte(secret), body)), signature)
}

// VerifyHMACPrefixed checks `sha256=<hex HMAC-SHA256(secret, body)>` (GitHub's X-Hub-Signature-256 shape).
func VerifyHMACPrefixed(secret string, body []byte, signature string) bool {
	return same("sha256="+hex.EncodeToString(hmacSHA256([]byte(secret), body)), signature)
}

// VerifyHMACTimestamped checks `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`, the
// timestamp in its own header.
func VerifyHMACTimestamped(secret string, body []byte, timestamp, signature string) bool {
	digest := hmacSHA256([]byte(secret), []byte(timestamp+"."), body)
	return fresh(timestamp) && same("sha256="+hex.EncodeToString(digest), signature)
}

// VerifyStripeStyle checks `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`; during a
// rotation one `t=…,v1=…` pair per live secret, all with the same timestamp.
func VerifyStripeStyle(secret string, body []byte, header string) bool {
	timestamps := map[string]bool{}
	var timestamp string
	var signatures []string
	for _, item := range strings.Split(header, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(item), "=")
		switch name {
		case "t":
			timestamps[value], timestamp = true, value
		case "v1":
			signatures = append(signatures, value)
		}
	}
	if len(timestamps) != 1 || !fresh(timestamp) {
		return false
	}
	expected := hex.EncodeToString(hmacSHA256([]byte(secret), []byte(timestamp+"."), body))
	for _, signature := range signatures {
		if same(expected, signature) {
			return true
		}
	}
	return false
}

// VerifyStandard checks Standard Webhooks v1: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
// key = the base64-decoded part of the secret after `whsec_`; several entries during a rotation.
func VerifyStandard(secret string, body []byte, id, timestamp, signatures string) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !fresh(timestamp) {
		return false
	}
	expected := base64.StdEncoding.EncodeToString(hmacSHA256(key, []byte(id+"."+timestamp+"."), body))
	for _, entry := range strings.Split(signatures, " ") {
		if version, value, _ := strings.Cut(entry, ","); version == "v1" && same(expected, value) {
			return true
		}
	}
	return false
}

// VerifyEd25519 checks Standard Webhooks v1a: `v1a,<base64 Ed25519 signature of
// "{id}.{timestamp}.{body}">` with the webhook's public key `whpk_<base64>`; several entries
// during a rotation.
func VerifyEd25519(publicKey string, body []byte, id, timestamp, signatures string) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(publicKey, "whpk_"))
	if err != nil || len(key) != ed25519.PublicKeySize || !fresh(timestamp) {
		return false
	}
	signed := append([]byte(id+"."+timestamp+"."), body...)
	for _, entry := range strings.Split(signatures, " ") {
		version, value, _ := strings.Cut(entry, ",")
		signature, err := base64.StdEncoding.DecodeString(value)
		if version == "v1a" && err == nil && ed25519.Verify(key, signed, signature) {
			return true
		}
	}
	return false
}

// readRequest: http.Header looks names up ignoring case, as net/http's receivers do.
func readRequest(path string) (http.Header, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	head, body, _ := bytes.Cut(raw, []byte("\n\n"))
	headers := http.Header{}
	for _, line := range strings.Split(string(head), "\n") {
		if name, value, found := strings.Cut(line, ":"); found {
			headers.Set(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	return headers, body, nil
}

func main() {
	scheme, key, names := os.Args[1], os.Args[2], os.Args[4:]
	headers, body, err := readRequest(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	id, timestamp, signatures := headers.Get("webhook-id"), headers.Get("webhook-timestamp"), headers.Get("webhook-signature")
	var verified bool
	switch scheme {
	case "standard":
		verified = VerifyStandard(key, body, id, timestamp, signatures)
	case "ed25519":
		verified = VerifyEd25519(key, body, id, timestamp, signatures)
	case "hmac-hex":
		verified = VerifyHMACHex(key, body, headers.Get(names[0]))
	case "hmac-prefixed":
		verified = VerifyHMACPrefixed(key, body, headers.Get(names[0]))
	case "hmac-timestamped":
		verified = VerifyHMACTimestamped(key, body, headers.Get(names[1]), headers.Get(names[0]))
	case "stripe-style":
		verified = VerifyStripeStyle(key, body, headers.Get(names[0]))
	default:
		fmt.Fprintln(os.Stderr, "unknown scheme", scheme)
		os.Exit(2)
	}
	if verified {
		fmt.Println("ok")
	} else {
		fmt.Println("FAILED")
		os.Exit(1)
	}
}

"""The delivery engine: claim due deliveries, build and sign one request each, send it through
the SSRF-guarded transport, and record the attempt with the retry policy's verdict."""

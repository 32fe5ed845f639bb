"""An app with a spooled Hookline client, run as a subprocess by test_spool.py.

`python spool_app.py URL KEY SPOOL emit N` spools N events (`order.created`, data
{"n": i}) and prints `spooled <pending>`; `... deliver` prints `pending <n>`, and with
`--flush` waits until the spool is empty and prints `flushed <pending>`. Either then
waits for its stdin to close, or for the SIGKILL the test sends.
"""

from __future__ import annotations

import sys

from hookline_client import Hookline


def main(url: str, key: str, spool: str, mode: str, *rest: str) -> None:
    client = Hookline(url, key, spool=spool)
    if mode == "emit":
        for n in range(int(rest[0])):
            client.emit("order.created", {"n": n})
        print(f"spooled {client.pending}", flush=True)
    else:
        print(f"pending {client.pending}", flush=True)
        if "--flush" in rest:
            client.flush(timeout=60)
            print(f"flushed {client.pending}", flush=True)
    sys.stdin.read()
    client.close(timeout=0)


if __name__ == "__main__":
    main(*sys.argv[1:])

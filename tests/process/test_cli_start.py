"""What `hookline serve` tells whoever starts it: where the dashboard is, that its setup page
is open to the first comer, and, when the port is taken, what to do instead of a stack of
log lines. Real subprocesses on a free loopback port."""

from __future__ import annotations

from app.services.users import create_first_admin
from tests.helpers import eventually, free_port, run_hookline, serve_hookline, stop_hookline

SETUP_WARNING = "whoever reaches that page first claims the admin account"


def test_serve_prints_the_dashboard_address_and_warns_until_someone_sets_it_up(env, tmp_path, db, clock):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    first = serve_hookline(env, port, tmp_path)
    try:
        output = eventually(lambda: SETUP_WARNING in first.log.read_text() and first.log.read_text(), 10,
                            "the start-up banner")
        assert f"the dashboard is at {url}" in output
        assert f"open {url}setup now and create the first administrator" in output

        second = run_hookline(["serve", "--dev", "--port", str(port)], env, tmp_path)
        assert second.returncode == 3
        last_line = second.stderr.strip().splitlines()[-1]
        assert last_line.startswith(f"hookline: port {port} on 127.0.0.1 is already in use"), second.stderr
        assert f"--port {port + 1}" in last_line, "and says what to do"
        assert "Traceback" not in second.stderr
        assert "Application startup" not in second.stderr, "it gave up before starting anything"
    finally:
        stop_hookline(first)

    create_first_admin("ada", "a" * 12, clock())
    again = serve_hookline(env, port, tmp_path)
    output = stop_hookline(again)
    assert f"the dashboard is at {url}" in output, "the same port again at once: nothing left in the way"
    assert SETUP_WARNING not in output and "/setup" not in output

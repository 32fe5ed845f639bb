"""`hookline serve | worker | create-key | create-user | set-password | remove-user | reencrypt | purge
| trigger | listen`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
import sys

from app import listen, trigger
from app.config import ConfigError, Settings, load_settings

log = logging.getLogger("hookline")

# Allocations between young-generation collections (CPython's default is 700), and young
# collections per older one (10). See _collect_garbage_rarely.
GC_THRESHOLDS = (20_000, 20, 20)

DEV_WARNING = """
  ************************************************************************
  *  DEVELOPMENT MODE: plain http:// URLs and loopback receivers         *
  *  (127.0.0.0/8, ::1) are allowed. Never run --dev on a public server. *
  ************************************************************************
"""


def main(argv: list[str] | None = None) -> int:
    config_option = argparse.ArgumentParser(add_help=False)
    config_option.add_argument(
        "--config", default=argparse.SUPPRESS, help="path of config.toml (default: $HOOKLINE_CONFIG or ./config.toml)"
    )
    parser = argparse.ArgumentParser(prog="hookline", description="Self-hosted webhook delivery.", parents=[config_option])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API and the delivery scheduler in one process", parents=[config_option])
    serve.add_argument("--dev", action="store_true", help="allow http:// and loopback receivers, for local trials")
    serve.add_argument("--host", help="listen address (overrides config)")
    serve.add_argument("--port", type=int, help="listen port (overrides config)")
    serve.add_argument(
        "--no-sender", action="store_true",
        help="serve the API and dashboard only, and leave sending to `hookline worker` processes",
    )

    worker = commands.add_parser(
        "worker", help="run only the delivery scheduler (no HTTP), to add senders", parents=[config_option]
    )
    worker.add_argument("--dev", action="store_true", help="allow http:// and loopback receivers")
    worker.add_argument(
        "--metrics-port", type=int, help="serve GET /metrics (this worker's counters) on this port; needs metrics_token"
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="listen address for --metrics-port (default: 127.0.0.1)")

    create_key = commands.add_parser("create-key", help="create an API key and print it once", parents=[config_option])
    create_key.add_argument("--tenant", default="default", help="tenant the key acts for (created if new)")
    create_key.add_argument("--admin", action="store_true", help="an admin key: acts for every tenant")
    create_key.add_argument("--name", default="", help="a label to recognise the key by")

    create_user = commands.add_parser(
        "create-user", help="create a dashboard user (password from $HOOKLINE_PASSWORD or a prompt)", parents=[config_option]
    )
    create_user.add_argument("name")
    create_user.add_argument("--tenant", default="default", help="tenant whose webhooks the user manages (created if new)")
    create_user.add_argument("--admin", action="store_true", help="may switch to every tenant")

    set_password = commands.add_parser(
        "set-password", help="change a dashboard user's password (from $HOOKLINE_PASSWORD or a prompt) "
        "and sign them out in every browser", parents=[config_option]
    )
    set_password.add_argument("name")

    remove_user = commands.add_parser(
        "remove-user", help="delete a dashboard user and sign them out in every browser", parents=[config_option]
    )
    remove_user.add_argument("name")

    commands.add_parser(
        "reencrypt", help="rewrite every webhook secret with the first of encryption_keys (key rotation)",
        parents=[config_option],
    )

    commands.add_parser(
        "purge", help="delete old deliveries, attempts and events now, as the retention job does",
        parents=[config_option],
    )

    trigger.add_parser(commands)
    listen.add_parser(commands)

    args = parser.parse_args(argv)
    # Clients of a server, maybe a remote one: no config of their own.
    if args.command == "trigger":
        return trigger.run_trigger(args)
    if args.command == "listen":
        return listen.run_listen(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per tick is noise
    try:
        settings = load_settings(getattr(args, "config", None))
        if getattr(args, "dev", False):
            settings = settings.for_dev()
        if args.command == "serve":
            settings = settings.replace(**{k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
        if args.command in ("serve", "worker"):
            from app.delivery.tracing import check_installed

            check_installed(settings)
    except ConfigError as exc:
        print(f"hookline: configuration error: {exc}", file=sys.stderr)
        return 2
    log.setLevel(settings.log_level.upper())
    if settings.dev:
        print(DEV_WARNING, file=sys.stderr)
    commands_by_name = {
        "serve": run_serve, "worker": run_worker, "create-key": run_create_key,
        "create-user": run_create_user, "set-password": run_set_password, "remove-user": run_remove_user,
        "reencrypt": run_reencrypt, "purge": run_purge,
    }
    return commands_by_name[args.command](settings, args)


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    # The port first: a second `hookline serve` on a taken port says so in one line
    # before it migrates, starts a sender or logs a thing.
    try:
        listening = listening_socket(settings.host, settings.port)
    except OSError as exc:
        print(f"hookline: {cannot_listen(settings.host, settings.port, exc)}", file=sys.stderr)
        return 3
    import uvicorn

    from app.main import create_app
    from app.services.users import needs_setup

    # Without the sender, emits have the event loop to themselves: on 2 cores one process
    # accepts 5,091 events/s at p99 8.6 ms with nothing to send, ~1,100/s at p99 28 ms
    # while sending 5 deliveries for each (docs/benchmarks.md).
    app = create_app(settings, run_sender=not args.no_sender)
    _collect_garbage_rarely()
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", server_header=False)
    server = uvicorn.Server(config)
    start_up, shut_down = server.startup, server.shutdown

    async def start_up_then_greet(sockets=None) -> None:
        await start_up(sockets)
        if server.started:
            print(start_banner(dashboard_url(settings.host, settings.port), needs_setup()), file=sys.stderr, flush=True)

    async def end_listen_streams_then_shut_down(sockets=None) -> None:
        """uvicorn waits for open requests before the lifespan ends: a `hookline listen`
        stream never ends by itself, so it is told to first (its CLI reconnects)."""
        app.state.listen_hub.end_all()
        await shut_down(sockets)

    server.startup, server.shutdown = start_up_then_greet, end_listen_streams_then_shut_down
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        server.run(sockets=[listening])
    return 0 if server.started else 3  # uvicorn.run's exit status when it could not start


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound as uvicorn binds (SO_REUSEADDR, so a restart need not wait out TIME_WAIT; it
    still refuses a port another process listens on)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        other = port + 1 if port < 65535 else port - 1
        return (f"port {port} on {host} is already in use (another `hookline serve`, or `make run`?): stop that "
                f"one (Ctrl-C in its terminal), or start this one on another port: --port {other} "
                f"(make run ARGS=\"--port {other}\")")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def dashboard_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server (a wildcard address is every
    address, loopback included)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def start_banner(url: str, needs_setup: bool) -> str:
    """What `serve` says once it listens: where the dashboard is, and while no account
    exists, that its setup page gives the admin account to whoever opens it first."""
    lines = [f"Hookline is running: the dashboard is at {url}, the API under {url}api/v1/ (Ctrl-C stops it)."]
    if needs_setup:
        lines.append(f"No dashboard account exists yet: open {url}setup now and create the first administrator.")
        lines.append("Until then, whoever reaches that page first claims the admin account.")
    return "\n".join(lines)


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    if args.metrics_port is not None and not settings.metrics_token:
        print("hookline: --metrics-port needs metrics_token (HOOKLINE_METRICS_TOKEN)", file=sys.stderr)
        return 2
    _collect_garbage_rarely()
    asyncio.run(_worker(settings, args))
    return 0


def _collect_garbage_rarely() -> None:
    """A sending process allocates a few hundred objects per delivery, so with CPython's
    defaults the cyclic collector ran hundreds of times a second and every tenth pass
    walked everything that survived, pausing the event loop, emits included. The modules
    and settings loaded by now are frozen out of every pass, and passes come far less
    often (unreachable cycles wait a little longer to be freed). Measured with
    `python -m bench.emit --emit-events 2000 --rate 400 --duration 20 --steady-rate 300`
    (open loops at 2,000 and 1,500 deliveries/s), two runs before and three after: emit
    p99 45-58 -> 16-26 ms and 29-33 -> 12-19 ms, emit-to-first-attempt p99 92-96 ->
    31-64 ms and 53-57 -> 23-39 ms; throughput and RSS unchanged."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _worker(settings: Settings, args: argparse.Namespace) -> None:
    from app.delivery.metrics import Metrics
    from app.delivery.tracing import build_tracing
    from app.rules.clock import system_clock
    from app.sender import running_sender
    from app.services.events import Lookups
    from app.services.setup import prepare_database
    from app.storage.writer import GroupWriter

    prepare_database(settings, system_clock)
    tracing = build_tracing(settings)
    process_metrics = Metrics()
    metrics_server = None
    if args.metrics_port is not None:
        metrics_server = _start_metrics_server(settings, process_metrics, args.metrics_host, args.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    writer = GroupWriter(system_clock, lambda: Lookups(settings))
    writer.start()
    try:
        async with running_sender(settings, system_clock, process_metrics, writer, tracing=tracing):
            log.info("worker sweeping %s every %gs", settings.database_url, settings.sweep_interval)
            await stop.wait()
    finally:
        await asyncio.to_thread(writer.stop)
        if tracing is not None:
            tracing.shutdown()  # exports the spans still queued
    if metrics_server is not None:
        metrics_server.should_exit = True


def _start_metrics_server(settings: Settings, process_metrics, host: str, port: int):
    """uvicorn in a thread of its own: outside the main thread it leaves the worker's
    signal handling alone, and a slow scrape never delays a send."""
    import threading

    import uvicorn

    from app.web.metrics import metrics_app

    config = uvicorn.Config(metrics_app(settings, process_metrics), host=host, port=port, log_level="warning",
                            lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="metrics-server", daemon=True).start()
    log.info("worker metrics at http://%s:%d/metrics", host, port)
    return server


def run_create_key(settings: Settings, args: argparse.Namespace) -> int:
    from app.rules.clock import system_clock
    from app.rules.errors import InvalidInput
    from app.services.api_keys import create_api_key
    from app.services.setup import prepare_database
    from app.services.tenants import named

    prepare_database(settings, system_clock)
    now = system_clock()
    try:
        new = create_api_key(None if args.admin else named(args.tenant), now, name=args.name, created_by="command line")
    except InvalidInput as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 2
    scope = "admin (all tenants)" if args.admin else f"tenant {args.tenant!r}"
    print(f"Created an API key for {scope}; it is shown only this once, store it now:", file=sys.stderr)
    print(new.plaintext)
    return 0


def _password(prompt: str) -> str:
    import getpass
    import os

    return os.environ.get("HOOKLINE_PASSWORD") or getpass.getpass(prompt)


def run_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from app.rules.clock import system_clock
    from app.rules.errors import InvalidInput
    from app.services.setup import prepare_database
    from app.services.tenants import named
    from app.services.users import create_user

    password = _password(f"Password for {args.name}: ")
    prepare_database(settings, system_clock)
    now = system_clock()
    try:
        user = create_user(args.name, password, named(args.tenant), now, is_admin=args.admin)
    except InvalidInput as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 2
    role = "admin" if user.is_admin else "user"
    print(f"Created {role} {user.name!r} for tenant {args.tenant!r}; they can sign in at /login.", file=sys.stderr)
    return 0


def run_set_password(settings: Settings, args: argparse.Namespace) -> int:
    from app.rules.clock import system_clock
    from app.rules.errors import ServiceError
    from app.services.setup import prepare_database
    from app.services.users import change_password

    password = _password(f"New password for {args.name}: ")
    prepare_database(settings, system_clock)
    try:
        user = change_password(args.name, password)
    except ServiceError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 2
    print(f"Changed the password of {user.name!r}; every browser they were signed in on must sign in again.",
          file=sys.stderr)
    return 0


def run_remove_user(settings: Settings, args: argparse.Namespace) -> int:
    from app.rules.clock import system_clock
    from app.rules.errors import ServiceError
    from app.services.setup import prepare_database
    from app.services.users import remove_user

    prepare_database(settings, system_clock)
    try:
        remove_user(args.name)
    except ServiceError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 2
    print(f"Removed {args.name.strip()!r} and ended their sessions.", file=sys.stderr)
    return 0


def run_reencrypt(settings: Settings, args: argparse.Namespace) -> int:
    from app.rules.clock import system_clock
    from app.services.setup import prepare_database, reencrypt_secrets

    prepare_database(settings, system_clock)
    count = reencrypt_secrets()
    print(f"Re-encrypted {count} webhook secrets with the first encryption key; older keys can now be removed.", file=sys.stderr)
    return 0


def run_purge(settings: Settings, args: argparse.Namespace) -> int:
    from app.rules.clock import system_clock
    from app.services.retention import purge
    from app.services.setup import prepare_database

    prepare_database(settings, system_clock)
    report = purge(system_clock(), settings)
    print(f"Purged {report.deliveries} deliveries, {report.attempts} attempts, {report.events} events "
          f"and {report.recoveries} recoveries in {report.batches} batches.")
    return 0

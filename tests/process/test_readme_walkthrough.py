"""The README's Quick start and walkthrough, replayed word for word against a real server.

Every code block of the walkthrough carries a marker (`<!-- walkthrough: console -->` and
the like) and this test fails on one without: a block nobody replays drifts from what the
server says. Commands run as a reader runs them: `hookline serve --dev` and `hookline
create-key` as subprocesses, `receiver.py` written out from its block and run as a
subprocess, each `python3 -c` one-liner of a pipeline by a real Python, and curl as httpx
(the machine need not have curl) with the same method, headers and body. Only the ports
change (the README's 8000 and 9000 are free ones here).

The output each block shows must be the output of the replay, once what differs from run to
run (ids, keys, secrets, signatures, times) is replaced by placeholders. Ids become
numbered placeholders in order of first appearance on each side, so the README also has to
show one run: the event id of step 4 must be the `webhook-id` of step 5 and the `event_id`
of step 6.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import HOOKLINE, eventually, free_port, serve_hookline, stop_hookline

README = Path(__file__).parents[2] / "README.md"
MARKED_BLOCK = re.compile(r"<!-- walkthrough: ([a-z. ]+) -->\n```\w*\n(.*?)\n```", re.S)
README_HOOKLINE, README_RECEIVER = "127.0.0.1:8000", "127.0.0.1:9000"

FOR_LOOP = re.compile(r"for (\w+) in ([^;]+); do\n(.*)\n\s*done", re.S)
ASSIGNMENT = re.compile(r"(\w+)=(\$\(.*?\)(?=\s+\w+=|$)|\S+)\s*")
VARIABLE = re.compile(r"\$(\w+)")
IDS = re.compile(r"\b(evt|dlv|wh|rcv)_[0-9A-HJKMNP-TV-Z]{26}\b")
VARYING = [
    (re.compile(r"\bhl_[A-Za-z0-9_-]{43}\b"), "<api key>"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/]{43}="), "<secret>"),
    (re.compile(r"\bwhpk_[A-Za-z0-9+/]{43}="), "<public key>"),
    (re.compile(r"\bv1,[A-Za-z0-9+/]{43}="), "v1,<signature>"),
    (re.compile(r"\bsha256=[0-9a-f]{64}\b"), "sha256=<signature>"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<time>"),
    (re.compile(r"\b1\d{9}\b"), "<unix time>"),
    (re.compile(r"\b[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\b"), "<http date>"),
    (re.compile(r"\[\d\d/[A-Z][a-z]{2}/\d{4} \d\d:\d\d:\d\d\]"), "[<log time>]"),
    (re.compile(r'"duration_ms": \d+'), '"duration_ms": <ms>'),
]


def marked_blocks() -> list[tuple[str, str]]:
    """(kind, text) of each marked block, in README order; fails on an unmarked block of
    the walkthrough."""
    text = README.read_text()
    walkthrough = text[text.index("\n## Five-minute walkthrough\n"):text.index("\n## Develop locally\n")]
    fences = walkthrough.count("\n```") // 2
    marked = len(MARKED_BLOCK.findall(walkthrough))
    assert marked == fences, f"{fences - marked} code blocks of the walkthrough have no <!-- walkthrough: … --> marker"
    return MARKED_BLOCK.findall(text)


class Placeholders:
    """One side's view of what varies: ids numbered in order of first appearance."""

    def __init__(self, ports: dict[str, str]):
        self.ports = ports
        self.ids: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        for real, shown in self.ports.items():
            text = text.replace(real, shown)
        text = IDS.sub(self._numbered, text)
        for pattern, placeholder in VARYING:
            text = pattern.sub(placeholder, text)
        return text

    def _numbered(self, match: re.Match) -> str:
        prefix = match[1]
        if match[0] not in self.ids:
            self.ids[match[0]] = f"{prefix}_<{sum(i.startswith(prefix + '_') for i in self.ids) + 1}>"
        return self.ids[match[0]]


def console_steps(block: str) -> list[tuple[str, str]]:
    """(command, the output shown under it): a command is a `$ ` line, with the lines a
    trailing backslash or an open `for … do` carries on."""
    steps: list[tuple[str, list[str]]] = []
    lines = iter(block.split("\n"))
    for line in lines:
        if not line.startswith("$ "):
            steps[-1][1].append(line)
            continue
        command = line[2:]
        while command.endswith("\\") or command.startswith("for ") and not command.endswith("done"):
            command += "\n" + next(lines)
        steps.append((command, []))
    return [(command, "\n".join(output)) for command, output in steps]


class Shell:
    """Runs the walkthrough's commands as bash would, for the few forms it uses; any other
    form fails the test, naming the command."""

    def __init__(self, env: dict, cwd: Path, ports: dict[str, str]):
        self.env, self.cwd = env, cwd
        self.ports = ports  # the README's address -> the real one
        self.variables: dict[str, str] = {}
        self.http = httpx.Client(timeout=30)

    def run(self, command: str) -> str:
        """What the terminal shows: stdout, and the stderr of every command run."""
        for shown, real in self.ports.items():
            command = command.replace(shown, real)
        stdout, stderr = self._run(command)
        return stderr + stdout

    def _run(self, command: str) -> tuple[str, str]:
        command = command.replace("\\\n", " ").strip()
        if loop := FOR_LOOP.fullmatch(command):
            body = [line.strip() for line in loop[3].split("\n")]
            outputs = [self._run(line) for _ in loop[2].split() for line in body]
            return "".join(out for out, _ in outputs), "".join(err for _, err in outputs)
        assignments = command.removeprefix("export ")
        if ASSIGNMENT.sub("", assignments) == "":
            stderr = ""
            for name, value in ASSIGNMENT.findall(assignments):
                if value.startswith("$("):
                    value, shown = self._run(value[2:-1])
                    stderr += shown
                self.variables[name] = self._expand(value).rstrip("\n")
            return "", stderr
        lexer = shlex.shlex(command, posix=True, punctuation_chars="|")
        lexer.whitespace_split = True
        stages, stage = [], []
        for token in lexer:
            if token == "|":
                stages.append(stage)
                stage = []
            else:
                stage.append(self._expand(token))
        stages.append(stage)
        stdout, stderr = self._program(stages[0], command)
        for args in stages[1:]:
            assert args[0] == "python3", f"the walkthrough pipes into {args[0]}, which this test cannot replay: {command}"
            stdout, more = self._subprocess([sys.executable, *args[1:]], stdout)
            stderr += more
        return stdout, stderr

    def _expand(self, token: str) -> str:
        return VARIABLE.sub(lambda m: self.variables[m[1]], token)

    def _program(self, args: list[str], command: str) -> tuple[str, str]:
        if args[0] == "curl":
            return self._curl(args[1:]), ""
        if args[0] == "echo":
            return " ".join(args[1:]) + "\n", ""
        if args[0] == ".venv/bin/hookline":
            return self._subprocess([HOOKLINE, *args[1:]])
        pytest.fail(f"the walkthrough runs a command this test cannot replay: {command}")

    def _subprocess(self, args: list[str], stdin: str = "") -> tuple[str, str]:
        done = subprocess.run(args, input=stdin, env=self.env, cwd=self.cwd, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    def _curl(self, args: list[str]) -> str:
        """curl's -s, -i, -X, -H, -d and --data-urlencode, as curl sends them."""
        method, headers, data, include, url = None, {}, [], False, None
        options = iter(args)
        for arg in options:
            if arg in ("-s", "-i", "-si"):
                include = include or "i" in arg
            elif arg == "-X":
                method = next(options)
            elif arg == "-H":
                name, _, value = next(options).partition(":")
                headers[name.strip()] = value.strip()
            elif arg == "-d":
                data.append(next(options))
            elif arg == "--data-urlencode":
                name, _, value = next(options).partition("=")
                data.append(f"{name}={quote(value, safe='')}")
            else:
                assert not arg.startswith("-") and url is None, f"curl {arg}: not replayed by this test"
                url = arg
        if data:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        response = self.http.request(method or ("POST" if data else "GET"), url, headers=headers,
                                     content="&".join(data) if data else None)
        if not include:
            return response.text
        head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
        head += [f"{name.decode()}: {value.decode()}" for name, value in response.headers.raw]
        return "\n".join(head) + "\n\n" + response.text


def test_the_readme_walkthrough_shows_what_a_real_run_shows(env, tmp_path):
    hookline_port, receiver_port = free_port(), free_port()
    real = {README_HOOKLINE: f"127.0.0.1:{hookline_port}", README_RECEIVER: f"127.0.0.1:{receiver_port}"}
    shell = Shell(env, tmp_path, real)
    shown_side = Placeholders({})
    real_side = Placeholders({address: shown for shown, address in real.items()})
    blocks = marked_blocks()
    assert [kind for kind, _ in blocks if kind != "console"] == [
        "server output", "receiver.py", "start receiver", "receiver output"]
    assert sum(kind == "console" for kind, _ in blocks) >= 10

    server = serve_hookline(env, hookline_port, tmp_path)
    receiver = None
    try:
        for kind, block in blocks:
            if kind == "server output":
                command, *lines = block.split("\n")
                assert command == "$ make run"
                for line in lines:
                    if line != "…":
                        assert shown_side(line) in real_side(server.log.read_text()).split("\n"), line
            elif kind == "receiver.py":
                (tmp_path / "receiver.py").write_text(block + "\n")
            elif kind == "start receiver":
                assert block == "python3 receiver.py 9000"
                receiver = _start_receiver(tmp_path, receiver_port)
            elif kind == "receiver output":
                got = eventually(lambda: _first_request(receiver.log), 30, "the receiver to print the first request")
                assert real_side(got) == shown_side(block), got
                _wait_until_recorded(shell)  # as a reader looks at the log only after the receiver printed
            else:
                for command, shown in console_steps(block):
                    output = shell.run(command)
                    assert real_side(output).rstrip("\n") == shown_side(shown).rstrip("\n"), (
                        f"$ {command}\nshows in the README:\n{shown}\nbut a real run shows:\n{output}")
    finally:
        shell.http.close()
        if receiver is not None:
            receiver.terminate()
            receiver.wait(timeout=10)
        stop_hookline(server)


def _start_receiver(folder: Path, port: int) -> subprocess.Popen:
    log = folder / "receiver.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "receiver.py", str(port)], cwd=folder, stdout=output,
                                   stderr=subprocess.STDOUT)
    process.log = log

    def listening() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()  # no request: http.server logs nothing
        except ConnectionRefusedError:
            return False
        return True

    eventually(listening, 10, "receiver.py to listen")
    return process


def _first_request(log: Path) -> str | None:
    """What receiver.py printed up to the log line of its first request."""
    text, log_line = log.read_text(), '"POST /hook HTTP/1.1" 200 -'
    end = text.find(log_line)
    return text[:end + len(log_line)] if end >= 0 else None


def _wait_until_recorded(shell: Shell) -> None:
    url = f"{shell.variables['HL']}/api/v1/webhooks/{shell.variables['WH']}/deliveries"
    headers = {"Authorization": f"Bearer {shell.variables['KEY']}"}
    eventually(lambda: shell.http.get(url, headers=headers).json()["data"][0]["status"] == "succeeded", 30,
               "the delivery to be recorded")

"""nginx as the anchor of the job route: a static file as large as a job document, served
by Debian's nginx on the same core as opsjobs, behind Basic auth with apr1 hashes and open.

``start()`` writes a config of its own into a directory of its own (pid, logs, temp paths;
nothing of /etc/nginx is used but the binary), and runs ``nginx -c <that> -g 'daemon off;'``
with one worker, pinned with ``taskset``. It needs no root; run as root, nginx drops its
worker to ``nobody`` as it always does, so the directory and its files are made readable to
it (they hold a copy of a bench document and bench-only hashes, nothing secret).

Two locations serve the same file:

- ``/apr1/job.json``: ``auth_basic`` with an htpasswd of apr1 (``$apr1$``, Apache's
  MD5-crypt, 1,000 MD5 rounds) hashes, made by ``openssl passwd -apr1``; nginx checks the
  hash on every request, it keeps no cache of verified credentials;
- ``/open/job.json``: no auth at all (wrk still sends the header; nginx ignores it).
"""

from __future__ import annotations

import grp
import http.client
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from .load import Targets
from .servers import HOST, Server, free_port

BINARY_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
FILE = "job.json"
APR1_PATH = f"/apr1/{FILE}"
OPEN_PATH = f"/open/{FILE}"
REALM = "opsjobs-bench"


def find_binary() -> str | None:
    for candidate in BINARY_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("nginx")


def ensure_binary(log=print) -> str:
    """nginx's path; `make nginx` (which `make bench` depends on) installs it."""
    found = find_binary()
    if found:
        return found
    raise SystemExit(
        "error: the benchmark measures the job route against nginx, which is not installed. "
        "Run `make nginx` (Debian/Ubuntu: `sudo apt-get install nginx`) and try again."
    )


def apr1_hash(password: str) -> str:
    """An apr1 hash of ``password`` with a fresh salt, by OpenSSL (the password goes in on
    stdin, never on a command line)."""
    done = subprocess.run(
        ["openssl", "passwd", "-apr1", "-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    hashed = done.stdout.strip()
    if not hashed.startswith("$apr1$"):
        raise RuntimeError(f"openssl passwd -apr1 gave no apr1 hash: {hashed[:12]!r}")
    return hashed


def htpasswd(passwords: dict[str, str]) -> str:
    for login in passwords:
        if not login or ":" in login or "\n" in login:
            raise ValueError(f"a login nginx's htpasswd cannot hold: {login!r}")
    return "".join(f"{login}:{apr1_hash(password)}\n" for login, password in passwords.items())


def _user_line() -> str:
    """As root, nginx runs its worker as an unprivileged user: name it (nobody and its own
    group), so the config does not depend on what the default group is called here."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwnam("nobody")
    return f"user {user.pw_name} {grp.getgrgid(user.pw_gid).gr_name};\n"


def config(directory: Path, port: int) -> str:
    d = directory
    temp = "\n".join(
        f"    {name}_temp_path {d / 'temp' / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{_user_line()}worker_processes 1;
pid {d / "nginx.pid"};
error_log {d / "error.log"} warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
{temp}
    default_type application/json;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    server {{
        listen {HOST}:{port};
        root {d / "www"};
        location /apr1/ {{
            auth_basic "{REALM}";
            auth_basic_user_file {d / "htpasswd"};
        }}
        location /open/ {{
        }}
    }}
}}
"""


def _write(directory: Path, body: bytes, passwords: dict[str, str], port: int) -> Path:
    for sub in ("www/apr1", "www/open", "temp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("apr1", "open"):
        (directory / "www" / sub / FILE).write_bytes(body)
    (directory / "htpasswd").write_text(htpasswd(passwords))
    path = directory / "nginx.conf"
    path.write_text(config(directory, port))
    # Readable by the worker nginx drops to when started as root (see the module's doc).
    for root, _dirs, files in os.walk(directory):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(Path(root) / name, 0o644)
    return path


def start(
    directory: Path,
    body: bytes,
    passwords: dict[str, str],
    cpu: int | None,
    *,
    binary: str | None = None,
    name: str = "nginx",
) -> Server:
    """nginx serving ``body`` on a free loopback port, pinned to ``cpu``; ``stop()`` ends it."""
    binary = binary or ensure_binary()
    port = free_port()
    conf = _write(directory, body, passwords, port)
    check = subprocess.run([binary, "-t", "-q", "-c", str(conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused its config:\n{check.stderr}")
    argv = [binary, "-c", str(conf), "-g", "daemon off;"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    log_path = directory / "stdout.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(name, port, process, directory / "error.log")
    try:
        _wait_ready(server, len(body))
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: Server, size: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"nginx exited with status {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request("GET", OPEN_PATH)
            response = conn.getresponse()
            got = response.read()
            conn.close()
            if response.status == 200 and len(got) == size:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def fetch_body(server: Server, path: str, authorization: str) -> bytes:
    """The body of one GET, as the measured route answers it (the file nginx serves)."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": authorization})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        return body
    finally:
        conn.close()


def retarget(targets: Targets, path: str, directory: Path, name: str) -> Targets:
    """The same requests as ``targets`` (same Authorization headers, same order), all of
    them for ``path``: what wrk sends the job route, sent to nginx's file instead."""
    lines = []
    for line in targets.path.read_text().splitlines():
        _old, rest = line.split("\t", 1)
        lines.append(f"{path}\t{rest}")
    out = directory / f"{name}.tsv"
    out.write_text("\n".join(lines) + "\n")
    return Targets(out, len(lines), 1, targets.users)


def first_target(targets: Targets) -> tuple[str, str]:
    """(path, Authorization) of the first request in ``targets``."""
    path, rest = targets.path.read_text().split("\n", 1)[0].split("\t", 1)
    return path, rest.split("\t", 1)[0]

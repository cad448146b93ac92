"""Serve a folder with Debian's nginx on 127.0.0.1, for the crawl benchmark.

Everything nginx writes (pid file, error log, temp paths) goes to a temp folder; the access
log is off, ``daemon off;`` keeps the master in the foreground as our child so it can be
stopped cleanly (SIGQUIT: graceful shutdown), and two workers serve the site. HTML travels
gzip-compressed when nginx finds a pre-built ``.gz`` twin (``gzip_static``) and the client
asks for it; nothing is compressed on the fly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

NGINX = "/usr/sbin/nginx"
INSTALL_HINT = "apt-get update && apt-get install -y nginx"

CONFIG = """\
{user}daemon off;
master_process on;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 65;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    gzip off;
    gzip_static on;
    gzip_vary on;
    server {{
        listen {host}:{port};
        server_name localhost;
        root {root};
        location / {{ try_files $uri $uri/ =404; }}
    }}
}}
"""


class NginxMissing(RuntimeError):
    """nginx is not installed; ``str(error)`` says how to install it."""


def nginx_available() -> bool:
    return Path(NGINX).is_file()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the usual small race applies)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_listening(host: str, port: int, process: subprocess.Popen[bytes],
                    timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with status {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {host}:{port} within {timeout} s")


class Nginx:
    """``with Nginx(root) as server: server.base_url``: nginx serving ``root`` until exit."""

    def __init__(self, root: Path, port: int | None = None, host: str = "127.0.0.1",
                 workers: int = 2) -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.workers = workers
        self.tmp: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def config_text(self, tmp: Path) -> str:
        # as root, nginx would switch its workers to "nobody", who cannot read a 0700 temp
        # folder (pytest's tmp_path): keep them as the user running the benchmark
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        return CONFIG.format(user=user, workers=self.workers, tmp=tmp, host=self.host,
                             port=self.port, root=self.root)

    def start(self, timeout: float = 10.0) -> None:
        if not nginx_available():
            raise NginxMissing(f"{NGINX} not found; install it with: {INSTALL_HINT}")
        self.tmp = Path(tempfile.mkdtemp(prefix="memoryhole-bench-nginx-"))
        conf = self.tmp / "nginx.conf"
        conf.write_text(self.config_text(self.tmp), encoding="utf-8")
        # -e: the compiled-in error log (/var/log/nginx) is opened before the config is read
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.tmp), "-c", str(conf), "-e", str(self.tmp / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_listening(self.host, self.port, self.process, timeout)
        except RuntimeError as exc:
            err = self.process.stderr.read().decode(errors="replace") if (
                self.process.poll() is not None and self.process.stderr) else ""
            self.stop()
            raise RuntimeError(f"{exc}: {err.strip()}") from None

    def error_log(self) -> str:
        if self.tmp is None or not (self.tmp / "error.log").exists():
            return ""
        return (self.tmp / "error.log").read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGQUIT), SIGKILL after ``timeout``; remove the temp folder."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stderr:
                process.stderr.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> Nginx:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

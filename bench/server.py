"""The server under test: gunicorn started with the production settings on a free loopback port.

Also what the driver reads of its workers from /proc: their CPU time (to wait until a slow
route's backlog is served) and their peak RSS (VmHWM, reset before each route).
"""
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

from bench.client import Browser
from bench.common import DATA, DATA_KEY, ROOT


class Server:
    """gunicorn with a settings file (deploy/gunicorn.conf.py), serving an app (bench/wsgi.py) on a free loopback port.

    `ready` is the path that answers 200 once the app is up; the server is ready when it does and
    every worker has started.
    """

    def __init__(self, url, log_path, app=None, config="deploy/gunicorn.conf.py", ready="/healthz"):
        self.url = url
        self.app = app or os.environ.get("BENCH_WSGI", "bench.wsgi:app")  # "app:app" measures the production limits too
        self.config = config
        self.ready = ready
        self.port = _free_port()
        self.log_path = log_path
        self.process = None
        self.secret_key = secrets.token_urlsafe(48)  # the bench signs step tokens with it (see step_tokens)

    def __enter__(self):
        env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=self.secret_key, DATA_KEY=DATA_KEY, DATABASE_URL=self.url,
                   GUNICORN_BIND=f"127.0.0.1:{self.port}", MAIL_DIR=str(DATA / "mail"),
                   RATELIMIT_STORAGE_URI="memory://",
                   # Production refuses to start without its public address and host names.
                   PORTAL_URL=f"http://127.0.0.1:{self.port}", TRUSTED_HOSTS="127.0.0.1")
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([gunicorn, "-c", self.config, self.app],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn terminó al arrancar; ver {self.log_path}")
            try:
                status, *_ = Browser(self.port).request("GET", self.ready)
                if status == 200 and len(self.workers()) >= self.expected_workers():
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn no respondió en 60 s; ver {self.log_path}")

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    @staticmethod
    def expected_workers():
        return int(os.environ.get("WEB_CONCURRENCY") or 2 * os.cpu_count())

    def workers(self):
        try:
            children = open(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def cpu_ticks(self):
        total = 0
        for pid in self.workers():
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total

    def wait_idle(self, limit=90):
        """Until the workers have finished what wrk left queued (slow routes leave a backlog behind)."""
        deadline = time.monotonic() + limit
        quiet = 0
        last = self.cpu_ticks()
        while time.monotonic() < deadline and quiet < 2:
            time.sleep(0.25)
            now = self.cpu_ticks()
            quiet = quiet + 1 if now - last <= 2 else 0  # at most 2 ticks (20 ms) of CPU in 250 ms
            last = now

    def reset_peak_rss(self):
        for pid in self.workers():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")  # resets VmHWM to the current RSS
            except OSError:
                pass

    def peak_rss_mb(self):
        """The largest VmHWM among the workers, in MB."""
        peak = 0
        for pid in self.workers():
            try:
                status = open(f"/proc/{pid}/status").read()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peak = max(peak, int(match.group(1)))
        return round(peak / 1024, 1)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

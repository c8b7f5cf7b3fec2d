"""The processes the HTTP modes start: gunicorn serving the app, one Celery worker, and wrk."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import ROOT

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
WRK_MISSING = "wrk is not installed; install it with: sudo apt-get install wrk"
# Celery's default queue, where the app's tasks go.
QUEUE = "celery"


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit(WRK_MISSING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(**extra: str) -> dict:
    """This process's environment (set by common.setup_django) for a server or worker, plus `extra`."""
    return {**os.environ, "ALLOWED_HOSTS": "127.0.0.1,localhost", **extra}


class Process:
    """A child process whose output goes to a log file, stopped on exit."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path):
        self.name, self.log = name, log_dir / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def failed(self, reason: str):
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        return RuntimeError(f"{self.name}: {reason}; the end of {self.log}:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Gunicorn(Process):
    """`gunicorn crmAdmin.wsgi` with sync workers on a free port, answering /api/health/ once started."""

    def __init__(self, env: dict, log_dir: Path, *, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "gunicorn", "crmAdmin.wsgi", "-w", str(workers)]
        command += ["-b", f"127.0.0.1:{self.port}", "--no-control-socket"]
        super().__init__("gunicorn", command, env, log_dir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.failed("exited while starting")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health/", timeout=5):
                    return
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.3)
        raise self.failed("did not answer within 60 s")

    def call(self, method: str, path: str, token: str, organization_id: int, body=None):
        """(status, JSON answer) of one request as the bench's user."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "X-Organization-ID": str(organization_id),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


class CeleryWorker(Process):
    """One Celery worker with its beat in a single process (`--pool solo`): one deliverer at a time."""

    def __init__(self, env: dict, log_dir: Path):
        # At the lowest CPU priority, as docs/operations.md advises beside web processes: requests come first.
        command = ["nice", "-n", "19", sys.executable, "-m", "celery", "-A", "crmAdmin", "worker", "--beat"]
        command += ["--pool", "solo"]
        command += ["--loglevel", "WARNING", "--schedule", str(log_dir / "beat-schedule")]
        super().__init__("celery", command, env, log_dir)
        from crmAdmin.celery import app

        self.control = app.control
        deadline = time.monotonic() + 60
        while not self.control.ping(timeout=1.0):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise self.failed("did not answer a ping")

    def pause(self) -> None:
        """Stop taking tasks from the queue (the beat's and the commits' wakes wait in it)."""
        if not self.control.cancel_consumer(QUEUE, reply=True, timeout=10):
            raise self.failed("did not confirm it stopped consuming")

    def resume(self) -> None:
        if not self.control.add_consumer(QUEUE, reply=True, timeout=10):
            raise self.failed("did not confirm it consumes again")


def wrk(url: str, *, duration: int, headers: dict[str, str], connections: int = 4, threads: int = 2, env=None):
    """Run wrk against `url`; its figures as bench/wrk.lua reports them (latencies in µs)."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", "-s", str(WRK_SCRIPT)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, env={**os.environ, **(env or {})})
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return json.loads(line.removeprefix("BENCH "))


def redis_commands(client) -> dict[str, int]:
    """Calls per command the Redis server has run since it started, over every client and database."""
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in client.info("commandstats").items()}


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all cores have spent so far on anything but idling or waiting for I/O, from /proc/stat (Linux).

    Time the hypervisor took (steal) is not counted: what it measures is the work done on this machine.
    """
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

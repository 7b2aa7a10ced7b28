"""A fresh moto server on a free loopback port, for one deploy-local run.

`Emulator` is a context manager: it starts `python -m deploylocal.motoserver` (moto's
server with the fixes in motoserver.py) bound to 127.0.0.1, records the PID in a file,
waits until the server answers, and on exit stops exactly that process, even when the
body raised. A PID file left by a crashed run is honoured on the next start: that
process is stopped only if its command line shows it is one of ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ACCOUNT = "123456789012"
REGION = "us-east-1"
HOST = "127.0.0.1"
_MODULE = "deploylocal.motoserver"


class EmulatorError(RuntimeError):
    """The emulator did not start, or died."""


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Emulator:
    """moto_server on loopback; `env()` is what the CDK CLI and boto3 need to talk to it."""

    def __init__(self, workdir: Path, *, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.pid_file = self.workdir / "moto.pid"
        self.log_file = self.workdir / "moto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for clients of the emulator (fake credentials; never a real account)."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            # The CDK CLI hands CloudFormation an S3 TemplateURL built from this endpoint;
            # moto recognizes its own S3 by the host name `localhost`, not by 127.0.0.1.
            "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{self.port}",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        stop_stale(self.pid_file)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        root = Path(__file__).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [sys.executable, "-m", _MODULE, "-H", HOST, "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it
            )
        self.pid_file.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._forget()
                raise EmulatorError(f"moto exited with {self.process.returncode}; see {self.log_file}")
            if self.ready():
                return
            time.sleep(0.2)
        self.stop()
        raise EmulatorError(f"moto did not answer on {self.endpoint} within {self.startup_timeout:g}s")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):  # noqa: S310 (loopback http)
                return True
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Stop the server this object started (TERM, then KILL) and remove its PID file."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._forget()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()


def stop_stale(pid_file: Path) -> int | None:
    """Stop the emulator a crashed earlier run left behind (only if it is ours); its PID or None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    pid_file.unlink(missing_ok=True)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None  # gone, or not a Linux /proc: nothing we can safely identify
    if _MODULE not in cmdline:
        return None  # the PID was reused by an unrelated process: leave it alone
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    return pid

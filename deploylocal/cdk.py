"""The real CDK CLI (pinned in package.json, installed into node_modules) run against the emulator."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CDK_BIN = ROOT / "node_modules" / ".bin" / "cdk"
# The update deploy cannot use a change set (moto answers the CLI's second change set with
# "Stack with id cdk-deploy-change-set does not exist"), and moto leaves the CDKToolkit
# stack without Outputs, so the CLI is told where the bootstrap version lives.
BOOTSTRAP_VERSION = "BootstrapVersion=/cdk-bootstrap/hnb659fds/version"
_DROPPED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "CDK_CONTEXT_JSON",
    "CDK_OUTDIR",
)


class CdkMissing(RuntimeError):
    """node_modules has no CDK CLI: run `npm ci` first."""


@dataclass
class Step:
    """One CLI invocation and how it went."""

    name: str
    argv: list[str]
    returncode: int
    seconds: float
    log: Path
    expected: tuple[int, ...] = (0,)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode in self.expected

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def require_cli() -> Path:
    if not CDK_BIN.exists():
        raise CdkMissing(
            f"{CDK_BIN.relative_to(ROOT)} is missing: install the pinned CDK CLI with `npm ci` "
            "(package.json pins aws-cdk), then run again"
        )
    return CDK_BIN


@dataclass
class Cdk:
    """Runs `cdk <command>` with the emulator's environment and fixed context."""

    env: Mapping[str, str]
    outdir: Path
    logdir: Path
    context: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 300.0

    def run(
        self, name: str, *args: str, context: Mapping[str, str] | None = None, expected: Sequence[int] = (0,)
    ) -> Step:
        binary = require_cli()
        ctx = {**self.context, **(context or {})}
        argv = [str(binary), *args, "--output", str(self.outdir), "--no-color", "--ci"]
        for key, value in ctx.items():
            argv += ["--context", f"{key}={value}"]
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("AWS_")}
        env.update(self.env)
        env.update(
            {
                "CDK_DISABLE_CLI_TELEMETRY": "true",
                "CDK_DISABLE_VERSION_CHECK": "true",
                # A list of Node majors whose end-of-life warning jsii should not print ("1" does nothing).
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": os.environ.get(
                    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20"
                ),
            }
        )
        self.logdir.mkdir(parents=True, exist_ok=True)
        log = self.logdir / f"{name}.log"
        started = time.perf_counter()
        with open(log, "wb") as handle:
            handle.write(("$ " + " ".join(argv) + "\n").encode())
            handle.flush()
            try:
                code = subprocess.run(  # noqa: S603 (argv is the pinned CDK CLI and fixed arguments)
                    argv,
                    cwd=ROOT,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    timeout=self.timeout,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                code = -1
                handle.write(f"\n[deploylocal] timed out after {self.timeout:g}s\n".encode())
        return Step(name, argv, code, round(time.perf_counter() - started, 1), log, tuple(expected))

    def bootstrap(self) -> Step:
        from deploylocal.emulator import ACCOUNT, REGION

        return self.run("bootstrap", "bootstrap", f"aws://{ACCOUNT}/{REGION}")

    def deploy(self, name: str, stack: str, *, update: bool, context: Mapping[str, str] | None = None) -> Step:
        args = ["deploy", stack, "--require-approval", "never", "--progress", "events"]
        if update:
            args += ["--method=direct", "--parameters", BOOTSTRAP_VERSION]
        return self.run(name, *args, context=context)

    def diff(self, name: str, stack: str, *, context: Mapping[str, str] | None = None) -> Step:
        # `--method=template` compares with the deployed template without a change set.
        return self.run(name, "diff", stack, "--method=template", "--fail", context=context, expected=(0,))

    def destroy(self, stack: str, *, context: Mapping[str, str] | None = None) -> Step:
        return self.run("destroy", "destroy", stack, "--force", context=context)

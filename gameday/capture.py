"""Capture what a handler prints: Powertools logs and EMF metrics, for the timeline."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def handler_output(output: io.StringIO) -> Iterator[None]:
    """Send the runtime's log handlers and stdout to `output` for the duration.

    Powertools' handler keeps the stdout of the moment it was created (which may be a
    stream since closed, e.g. an earlier test's capture), so its stream is swapped by
    assignment, never through `setStream`, which would flush the old one.
    """
    from remediation.observability import logger

    handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    saved = [h.stream for h in handlers]
    for h in handlers:
        h.stream = output
    try:
        with contextlib.redirect_stdout(output):
            yield
    finally:
        for h, stream in zip(handlers, saved, strict=True):
            h.stream = stream

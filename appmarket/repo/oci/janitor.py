"""A background thread that expires abandoned upload sessions, so no cron job is needed for them.

Every replica may run one: expiry is a conditional DELETE per session and deleting staged bytes that
are already gone is a no-op, so replicas sweeping at once do no harm. Blob GC stays an explicit
``appmarket gc`` (or admin API) run.
"""

from __future__ import annotations

import logging
import threading

from appmarket.repo.oci.uploads import UploadService

log = logging.getLogger(__name__)


class UploadJanitor:
    def __init__(self, uploads: UploadService, interval: float) -> None:
        self._uploads = uploads
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sweeping every ``interval`` seconds; an interval of 0 (or less) starts nothing."""
        if self._interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="oci-upload-janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                expired, staged = self._uploads.expire()
            except Exception:  # a database or storage hiccup: log it and try again next round
                log.exception("upload janitor failed")
                continue
            if expired or staged:
                log.info("upload janitor: %d sessions expired, %d staged uploads swept", expired, staged)

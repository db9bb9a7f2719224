"""A dependency-free progress bar on stderr: count, percentage, rate and ETA, redrawn in place.
It draws only on a terminal: redirected output stays clean."""
import sys
import time


def _fmt_time(s):
    s = int(s + 0.5)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class Progress:
    def __init__(self, total, unit="inputs", enabled=True, stream=None, label=""):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(enabled) and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total, self.unit, self.label = total, unit, label
        self.done = 0
        self.t0 = time.monotonic()
        self.last = 0.0
        self.width = 0

    def update(self, n=1):
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last >= 0.1 or self.done >= self.total:
            self.last = now
            self._draw(now)

    def _draw(self, now):
        el = max(now - self.t0, 1e-9)
        rate = self.done / el
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = _fmt_time((self.total - self.done) / rate) if rate > 0 and self.done < self.total else "0:00"
        line = "%s%d/%d %s %3.0f%% | %.1f %s/s | %s elapsed | ETA %s" % (
            self.label, self.done, self.total, self.unit, pct, rate, self.unit, _fmt_time(el), eta)
        pad = max(0, self.width - len(line))
        self.width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self):
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

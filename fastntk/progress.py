"""A lazily imported tqdm progress bar shared by every long computation (Grams, benchmarks, studies).

``progress=None`` (the default everywhere) shows a bar only when stderr is a terminal and tqdm is
installed; ``progress=True`` asks for one (and names the extra to install if tqdm is missing);
``progress=False`` never shows one. Without a bar the helpers return an object with the same
``update``/``close`` methods that does nothing, so callers never branch on it.
"""
import sys


class _NoBar:
    n = 0

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _wanted(progress):
    if progress is None:
        if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
            return False
        try:
            import tqdm  # noqa: F401
        except ImportError:
            return False
        return True
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    return progress


def bar(total, desc=None, unit="tile", progress=None, initial=0):
    """A progress bar over ``total`` steps (tiles done, rate and ETA), or a silent stand-in."""
    if not _wanted(progress):
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError("progress=True needs tqdm: pip install 'fastntk[progress]'") from exc
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, smoothing=0.1)


def track(iterable, total=None, desc=None, unit="it", progress=None):
    """Iterate over ``iterable`` while advancing a progress bar (for benchmark and study loops)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with bar(total, desc=desc, unit=unit, progress=progress) as b:
        for item in iterable:
            yield item
            b.update(1)


class _TileBar:
    """The callable handed to a C++ Gram loop as ``progress(done, total)`` (called about every 50 ms
    from the computing thread, with the GIL). The bar appears only once the computation has run for
    ``delay`` seconds, so short calls print nothing."""

    def __init__(self, desc, delay):
        self.desc, self.delay, self.bar = desc, delay, None

    def __call__(self, done, total):
        if self.bar is None:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc=self.desc, unit="tile", delay=self.delay, dynamic_ncols=True,
                            smoothing=0.1)
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


BAR_DELAY = 0.5  # seconds a C++ Gram runs before its tile bar appears


class tiles:
    """``with tiles(progress, desc) as report:`` gives the ``progress`` argument of the C++ Gram entry
    points: None when no bar is wanted (the loop then only checks for Ctrl-C), else a :class:`_TileBar`."""

    def __init__(self, progress, desc):
        self.report = None
        if _wanted(progress):
            try:
                import tqdm  # noqa: F401
            except ImportError as exc:
                raise ImportError("progress=True needs tqdm: pip install 'fastntk[progress]'") from exc
            self.report = _TileBar(desc, BAR_DELAY)

    def __enter__(self):
        return self.report

    def __exit__(self, *exc):
        if self.report is not None:
            self.report.close()

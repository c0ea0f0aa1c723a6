"""Checksummed downloads into the cache: mirrors in order, retries with backoff, atomic writes.

A download streams to a hidden temporary file beside its destination, hashing as it goes; only a
complete file whose SHA-256 matches is fsync'd and renamed into place, so the cache never holds
half a file under a real name, and a mismatch leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ganlab.errors import DataError
from ganlab.version import __version__

CHUNK = 1 << 16
USER_AGENT = f"ganlab/{__version__}"


class _Retryable(Exception):
    """A failure worth trying again on the same mirror: a dropped connection, a 5xx, a cut body."""


class _Permanent(Exception):
    """A failure the same mirror will repeat: a 404, a wrong checksum."""


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/ganlab``, else ``~/.cache/ganlab``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "ganlab"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(
    urls: Sequence[str],
    dest: Path,
    sha256: str | None,
    *,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Fetch the first of ``urls`` that works into ``dest``, checking its SHA-256.

    Each mirror is tried up to ``retries`` times while it fails in a way that may pass
    (connection reset or refused, timeout, HTTP 5xx/408/429, a body shorter than its
    Content-Length), sleeping ``backoff * 2**attempt`` seconds between tries; an HTTP error such
    as 404, or a checksum mismatch, moves on to the next mirror at once.

    Args:
        urls: mirrors of one file, tried in order.
        dest: the file to create; its folder is created if needed.
        sha256: expected hex digest, or None to accept any content (reported, not checked).
        retries: attempts per mirror (>= 1).
        backoff: seconds before the first retry, doubled each time.
        timeout: socket timeout in seconds for connecting and for each read.
        progress: show a tqdm progress bar on stderr.
    Returns:
        dest.
    Raises:
        DataError: every mirror failed; the message lists each mirror's last failure.
    """
    if not urls:
        raise DataError(f"no download address for {dest.name}; put the file in {dest.parent}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create the cache folder {dest.parent} ({e.strerror}); set XDG_CACHE_HOME "
            "to a writable folder"
        ) from None
    failures = []
    for url in urls:
        for attempt in range(max(1, retries)):
            try:
                _fetch_once(url, dest, sha256, timeout, progress)
                return dest
            except _Permanent as e:
                failures.append(f"{url}: {e}")
                break
            except _Retryable as e:
                if attempt + 1 == max(1, retries):
                    failures.append(f"{url}: {e} (tried {attempt + 1} times)")
                else:
                    time.sleep(backoff * 2**attempt)
    raise DataError(
        f"could not download {dest.name}: {'; '.join(failures)}; check the network or the "
        f"mirror, or put the file in {dest.parent} yourself"
    )


def _fetch_once(url: str, dest: Path, sha256: str | None, timeout: float, progress: bool):
    """One attempt at one mirror: stream to a temporary file, check, fsync, rename."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            digest, size, expected_size = _stream(request, f, timeout, progress, dest.name)
            f.flush()
            os.fsync(f.fileno())
        if expected_size is not None and size != expected_size:
            raise _Retryable(f"connection closed after {size} of {expected_size} bytes")
        if sha256 is not None and digest != sha256.lower():
            raise _Permanent(
                f"SHA-256 mismatch (got {digest}, expected {sha256}); deleted the downloaded file"
            )
        os.replace(tmp, dest)  # readers see no file or the whole, checked file
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(dest.parent)


def _stream(request, f, timeout: float, progress: bool, name: str):
    """Copy a response body to f; returns (sha256 hex, bytes read, Content-Length or None)."""
    h = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                disable=not progress,
                leave=False,
            ) as bar:
                while block := response.read(CHUNK):
                    f.write(block)
                    h.update(block)
                    size += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as e:
        reason = f"HTTP {e.code} {e.reason}"
        if e.code >= 500 or e.code in (408, 429):
            raise _Retryable(reason) from None
        raise _Permanent(reason) from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, socket.gaierror):  # an unknown host stays unknown
            raise _Permanent(f"{e.reason}") from None
        raise _Retryable(f"{e.reason}") from None
    except (http.client.HTTPException, ConnectionError, TimeoutError, OSError) as e:
        raise _Retryable(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from None
    return h.hexdigest(), size, expected


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

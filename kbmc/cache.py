"""kbmc's per-user cache folder ($XDG_CACHE_HOME/kbmc, else ~/.cache/kbmc): compiled templates and parsed
topology files, so that the commands run many times a day skip work whose result cannot have changed.

Everything here is derived data keyed by its input: deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

KEEP = 64  # parsed documents kept per part: every edit of a kbmc.yaml adds one; the oldest go first


def cache_dir(part: str) -> Path | None:
    """A private folder under kbmc's cache, or None (no cache then: only slower).

    What is cached is run (compiled templates) or acted on (parsed kbmc.yaml), so a folder anyone else could
    write to is never used: kbmc's folder and the part's must be real directories (not links), owned by this
    user, writable by nobody else. kbmc makes them 0700; one found writable by others is not used (Jinja's own
    default cache refuses such a folder too).
    """
    try:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = xdg if os.path.isabs(xdg) else str(Path.home() / ".cache")  # XDG: a relative path is ignored
    except (RuntimeError, KeyError, OSError):  # no HOME and no passwd entry: no cache
        return None
    root = Path(base) / "kbmc"
    folder = root / part
    try:
        Path(base).mkdir(parents=True, exist_ok=True)
        for path in (root, folder):
            path.mkdir(exist_ok=True, mode=0o700)
            if not _private(path):
                return None
    except OSError:
        return None
    return folder


def _private(path: Path) -> bool:
    """A real directory of this user's that nobody else could ever write to; tightened to 0700 if readable."""
    import stat

    st = path.lstat()
    getuid = getattr(os, "getuid", None)
    if not stat.S_ISDIR(st.st_mode) or (getuid is not None and st.st_uid != getuid()):
        return False
    if st.st_mode & 0o022:  # writable by group or others: anything in it may have been planted
        return False
    if st.st_mode & 0o077:
        path.chmod(0o700)  # e.g. made 0755 under umask 022 by an older kbmc
    return True


def _entry(part: str, text: str) -> Path | None:
    from kbmc import __version__

    folder = cache_dir(part)
    if folder is None:
        return None
    # The loader's rules belong to the kbmc release: a new release never reads an older one's result.
    key = hashlib.sha256(f"{__version__}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
    return folder / f"{key}.json"


def load_parsed(part: str, text: str) -> Any | None:
    """The document cached for exactly this text, or None."""
    path = _entry(part, text)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store_parsed(part: str, text: str, doc: Any) -> None:
    """Cache a parsed document when JSON carries it unchanged (not YAML's dates, sets or non-string keys)."""
    try:
        encoded = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError):
        return
    if json.loads(encoded) != doc:
        return
    path = _entry(part, text)
    if path is None:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(encoded)
        os.replace(tmp, path)  # readers see the whole entry or none
    except OSError:
        tmp.unlink(missing_ok=True)
        return
    _prune(path.parent)


def _prune(folder: Path) -> None:
    try:
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another run pruned first

"""Folders written so that nothing a user owns is destroyed and nothing half-written is read.

Every folder cxsim writes (a run, a comparison) is assembled under a hidden temporary name beside
its destination and swapped into place when complete, ``manifest.json`` last. The rules:

* A destination is replaced only if it is absent, empty, or a complete cxsim folder holding
  nothing but the files its manifest lists; anything else (a user's file, another program's
  folder, a cxsim folder with a user's notes added) is refused with :class:`OutputError` before
  any work is done (:func:`check_target`).
* The swap is one atomic exchange of the two folders where the filesystem offers it (Linux
  ``renameat2(RENAME_EXCHANGE)``), so a kill at any instant leaves the old complete folder or the
  new one in place. Elsewhere it is two renames, and a kill between them leaves the old folder
  in a hidden ``.old-*`` folder beside it, which the next write or read puts back.
* Temporary folders carry the host and process that made them; the next write beside them
  removes those whose process is gone (and nameless old ones after a day), never a live writer's.
* The manifest records the SHA-256 of every file and of itself, so a reader can tell a file that
  was edited, truncated or overwritten from the one cxsim wrote (:func:`verify`).
* A command that builds one folder over a long time (an exploration) holds a lock beside it
  (:func:`exclusive`), so a second copy of the command stops at once instead of racing the first.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
_SELF = "manifest_sha256"
_LEGACY_AGE_S = 24 * 3600  # leftovers without a process id are removed once this old
_RENAME_EXCHANGE = 2  # linux/fs.h


class OutputError(OSError):
    """cxsim refuses to write here: the message names the folder, why, and what to do."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str).encode()


def sealed_manifest(content: dict[str, Any], folder: Path, files: list[str]) -> str:
    """``content`` plus the checksum of every listed file and of the manifest itself, as JSON text."""
    body = dict(content)
    body["files"] = list(files) + [MANIFEST]
    body["checksums"] = {f: file_sha256(folder / f) for f in files}
    body[_SELF] = hashlib.sha256(_canonical(body)).hexdigest()
    return json.dumps(body, indent=2, allow_nan=True, default=str) + "\n"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The parsed manifest of ``folder`` or None if there is none or it does not parse."""
    try:
        m = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return m if isinstance(m, dict) else None


def verify(folder: str | Path, manifest: dict[str, Any] | None = None) -> str | None:
    """Why ``folder`` is not exactly what cxsim wrote, or None if every checksum matches.

    ``manifest``: the folder's manifest.json as the caller already parsed it (read_manifest),
    so it is not read twice."""
    folder = Path(folder)
    m = manifest if manifest is not None else read_manifest(folder)
    if m is None:
        return "no readable manifest.json (never finished, or damaged)"
    if not m.get("complete") or m.get("package") != "cxsim":
        return "the manifest does not mark a complete cxsim folder"
    sums = m.get("checksums")
    if not isinstance(sums, dict) or _SELF not in m:
        return "written by a cxsim without checksums: cannot be verified (run it again)"
    body = {k: v for k, v in m.items() if k != _SELF}
    if hashlib.sha256(_canonical(body)).hexdigest() != m[_SELF]:
        return "manifest.json was changed after it was written"
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != digest:
            return f"{name} differs from what was written (checksum mismatch)"
    return None


def _entries(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def foreign_content(folder: Path) -> str | None:
    """Why cxsim may not replace ``folder``, or None if it may (absent, empty, or its own)."""
    if not os.path.lexists(folder):
        return None
    if folder.is_symlink() or not folder.is_dir():
        return "it is a file, not a folder"
    m = read_manifest(folder)
    if m is None or m.get("package") != "cxsim":
        first = sorted(p.name for _, p in zip(range(4), folder.iterdir()))
        if not first:
            return None
        shown = ", ".join(first[:3]) + (", ..." if len(first) > 3 else "")
        return f"it holds files cxsim did not write ({shown})"
    entries = _entries(folder)
    extra = sorted(entries - set(m.get("files", [])))
    if extra:
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        return f"it is a cxsim folder with files added that cxsim did not write ({shown})"
    return None


@contextmanager
def exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (a small file beside the folder it guards) for the
    block; raise OutputError naming the holder if another process has it. The operating system
    releases the lock when its holder exits, however it exits, so a lock is never left stale.
    Where fcntl is missing (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on the platforms cxsim is tested on
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise OutputError(f"{what} is being written by {holder}; wait for it to finish, or stop it, "
                              "and run this again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def check_target(folder: str | Path, what: str = "output folder") -> Path:
    """Refuse, before any work, a destination cxsim could not write or must not replace."""
    folder = Path(folder)
    why = foreign_content(folder)
    if why:
        raise OutputError(f"cxsim will not replace the {what} {folder}: {why}. "
                          "Choose another folder, or move that one away first.")
    probe = folder.parent
    while not probe.exists():
        if os.path.lexists(probe):
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write the {what} {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the {what} {folder}: {probe} is not writable")
    return folder


def inside(path: str | Path, root: str | Path) -> bool:
    """True if ``path`` stays under ``root`` once '..' and links are resolved."""
    return Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root)))


# ---------------------------------------------------------------------------------------------
# leftovers of killed writers


def _stamp() -> str:
    return f"{socket.gethostname().replace('~', '-')}~{os.getpid()}~"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _abandoned(entry: Path, name: str, kind: str) -> bool:
    """A leftover ``.<kind>-<name>~host~pid~*`` whose writer is gone (or a nameless day-old one)."""
    rest = entry.name[len(f".{kind}-{name}"):]
    if rest.startswith("~"):
        parts = rest[1:].split("~")
        if len(parts) >= 3 and parts[1].isdigit():
            if parts[0] != socket.gethostname().replace("~", "-"):
                return time.time() - entry.stat().st_mtime > _LEGACY_AGE_S  # another host's: by age
            return not _alive(int(parts[1]))
    try:
        return time.time() - entry.stat().st_mtime > _LEGACY_AGE_S
    except OSError:
        return False


def recover(folder: str | Path) -> None:
    """Put back a previous complete folder a killed swap left in ``.old-*``; drop dead temporaries."""
    folder = Path(folder)
    parent, name = folder.parent, folder.name
    if not parent.is_dir():
        return
    escaped = glob.escape(name)
    # "~host~pid~": this cxsim's leftovers; "-": an older cxsim's (removed once a day old)
    olds = [*parent.glob(f".old-{escaped}~*"), *parent.glob(f".old-{escaped}-*")]
    for entry in sorted(olds):
        previous = entry / "previous"
        try:
            if not os.path.lexists(folder) and previous.is_dir() and verify(previous) is None:
                os.rename(previous, folder)
            if _abandoned(entry, name, "old") or not previous.exists():
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue  # another process got there first
    for entry in [*parent.glob(f".tmp-{escaped}~*"), *parent.glob(f".tmp-{escaped}-*")]:
        try:
            if _abandoned(entry, name, "tmp"):
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def recover_all(parent: str | Path) -> None:
    """:func:`recover` for every folder a killed swap left hidden in ``parent``."""
    parent = Path(parent)
    if not parent.is_dir():
        return
    names = set()
    for entry in parent.glob(".old-*"):
        names.add(entry.name[len(".old-"):].split("~")[0])
    for name in sorted(names):
        recover(parent / name)


# ---------------------------------------------------------------------------------------------
# the swap


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux renameat2); False where that is not offered."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def atomic_dir(out_dir: str | Path, what: str = "output folder") -> Iterator[Path]:
    """Build a folder under a hidden temporary name beside ``out_dir``; on success swap it into
    place, on any failure remove it. Readers never see a half folder; see the module docstring."""
    out_dir = Path(out_dir)
    check_target(out_dir, what)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out_dir.name}~{_stamp()}", dir=out_dir.parent))
    try:
        yield tmp
        check_target(out_dir, what)  # again: something may have appeared while we worked
        if out_dir.is_dir() and _exchange(tmp, out_dir):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous folder
        elif os.path.lexists(out_dir):
            old = Path(tempfile.mkdtemp(prefix=f".old-{out_dir.name}~{_stamp()}", dir=out_dir.parent))
            os.rename(out_dir, old / "previous")
            os.rename(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

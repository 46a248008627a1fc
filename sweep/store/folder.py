"""Output folders that sweep owns: a record of every file it wrote there, and a lock.

A command writes into a folder only through ``claim``:

- The folder must be new, empty, or hold only what a record there (``sweep-files.jsonl``)
  says sweep wrote. Anything else (a user's notes, a report of another tool) makes the
  command refuse in one line, before any work: sweep never replaces or deletes a file it
  did not write.
- The folder is locked while the command writes (``filelock``: an ``flock`` on
  ``.sweep.lock``, which the kernel releases when the process dies, so the lock of a
  killed command is stale by construction). A second writer is refused in one line that
  names the holder.
- Files are written under temporary names and renamed into place, all of a batch staged
  before any is renamed, so a full disk or a crash leaves every file either old or new,
  never half-written, and never a new figure beside an old report.
- The record is a journal: one JSON line per file written or removed, appended (a single
  ``write`` on an ``O_APPEND`` descriptor, so a killed command leaves at most one torn last
  line, which readers skip). Each line holds the file's size and SHA-256, and for the parts
  of a streamed sweep their row range, so that readers can verify what they read.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sweep.errors import StoreError

RECORD = "sweep-files.jsonl"
#: The size recorded for a file that is planned but not yet written.
PLANNED = -1
LOCK = ".sweep.lock"
#: Temporary files are named ``.sweep-tmp-<name>-<random>``: unmistakably sweep's own.
TEMP_PREFIX = ".sweep-tmp-"
#: The longest folder or file name most file systems take (NAME_MAX).
NAME_MAX = 255


@dataclass(frozen=True)
class Entry:
    """The record of one file sweep wrote: its path relative to the folder, size in bytes,
    SHA-256 (hex), and for a part of a streamed sweep its row range ``[start, stop)``."""

    name: str
    size: int
    sha256: str
    rows: tuple[int, int] | None = None
    removed: bool = False


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def read_record(folder: Path) -> dict[str, Entry]:
    """The files the record in ``folder`` lists as written (the last line about a file wins;
    removed files are left out). Empty when there is no record.

    Raises:
        StoreError: if the record cannot be read, or a line other than a torn last one
            is not a record line.
    """
    path = folder / RECORD
    if not path.is_file():
        return {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise StoreError(f"cannot read {str(path)!r}: {getattr(error, 'strerror', None) or error}") from None
    entries: dict[str, Entry] = {}
    for number, line in enumerate(lines):
        try:
            item = json.loads(line)
            rows = item.get("rows")
            entry = Entry(str(item["name"]), int(item["size"]), str(item["sha256"]), tuple(int(r) for r in rows) if rows is not None else None, bool(item.get("removed", False)))
            if entry.rows is not None and len(entry.rows) != 2:
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            if number == len(lines) - 1:
                break  # a line torn by a killed command: the file it names is redone
            raise StoreError(f"{str(path)!r} is damaged at line {number + 1}: it is not a record sweep wrote") from None
        if not _inside(entry.name):
            # Only a hand-made or damaged record names such a path: removing "its" files would
            # delete files outside the folder.
            raise StoreError(f"{str(path)!r} lists {entry.name[:80]!r} at line {number + 1}, a path outside its folder: it is not a record sweep wrote")
        if entry.removed:
            entries.pop(entry.name, None)
        else:
            entries[entry.name] = entry
    return entries


def _inside(name: str) -> bool:
    """Whether a recorded name is a path inside the folder: relative, without '..' or '.'."""
    parts = name.split("/")
    return bool(name) and not os.path.isabs(name) and "\\" not in name and all(part not in ("", ".", "..") for part in parts)


def _is_ours(name: str) -> bool:
    return name in (RECORD, LOCK) or name.startswith(TEMP_PREFIX)


def foreign_files(folder: Path, record: Mapping[str, Entry]) -> list[str]:
    """Paths under ``folder`` (relative) that the record does not list: files sweep did not
    write (a sub-folder counts as sweep's when the record lists files in it)."""
    listed = set(record)
    parents = {str(Path(name).parent) for name in listed}
    found = []
    for root, dirs, files in os.walk(folder):
        relative = Path(root).relative_to(folder)
        for name in sorted(files):
            path = str(relative / name) if str(relative) != "." else name
            if path not in listed and not _is_ours(name):
                found.append(path)
        for name in sorted(dirs):
            path = str(relative / name) if str(relative) != "." else name
            if path not in parents and not any(p.startswith(path + os.sep) for p in parents):
                found.append(path + os.sep)
                dirs.remove(name)
    return found


def check_name(out: str | os.PathLike, option: str = "--out") -> Path:
    """``out`` as an absolute Path, refused in one line when it cannot name a folder.

    Raises:
        StoreError: empty, a part longer than the file system allows, or an existing file.
    """
    text = os.fspath(out)
    if not text.strip():
        raise StoreError(f"{option} '' is not allowed: name a folder, for example {option} sweep-results")
    path = Path(text).absolute()
    long = [part for part in path.parts if len(os.fsencode(part)) > NAME_MAX]
    if long:
        raise StoreError(f"{option} {text[:60]!r}...: the name {long[0][:40]!r}... has {len(os.fsencode(long[0]))} bytes, more than the {NAME_MAX} a file system allows")
    if path.exists() and not path.is_dir():
        raise StoreError(f"{option} {text!r} is a file, not a folder")
    return path


def _holder_text(lock_path: Path) -> str:
    try:
        holder = json.loads(lock_path.read_text() or "{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
        return f"process {holder.get('pid', '?')} on {holder.get('host', '?')} since {since} ({holder.get('command', 'sweep')})"
    except (OSError, ValueError, TypeError, AttributeError):
        return "another process"


@dataclass
class Folder:
    """A folder claimed by one command (see ``claim``): write and remove its files only here.

    Attributes:
        path: the folder, absolute.
        record: what sweep wrote there, by relative path (kept up to date by this object).
        created: the folder did not exist before this command.
    """

    path: Path
    record: dict[str, Entry] = field(default_factory=dict)
    created: bool = False
    _record_fd: int | None = None

    def _append(self, entry: Entry) -> None:
        item = {"name": entry.name, "size": entry.size, "sha256": entry.sha256}
        if entry.rows is not None:
            item["rows"] = list(entry.rows)
        if entry.removed:
            item["removed"] = True
        line = (json.dumps(item) + "\n").encode()
        if self._record_fd is None:
            self._record_fd = os.open(self.path / RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        written = os.write(self._record_fd, line)
        if written != len(line):
            raise OSError(errno.ENOSPC, "short write to the record")
        if entry.removed:
            self.record.pop(entry.name, None)
        else:
            self.record[entry.name] = entry

    def note(self, name: str, size: int, sha256: str, rows: tuple[int, int] | None = None) -> None:
        """Record a file that sweep wrote into the folder by other means (a Dask worker's part)."""
        with disk_errors(self.path / RECORD):
            self._append(Entry(name, size, sha256, rows))

    def plan(self, parts: Mapping[str, tuple[int, int]]) -> None:
        """Record files about to be written by other means (the parts of a streamed sweep,
        perhaps by Dask workers), before they exist: a part that a killed command renamed
        into place but never recorded is then still known as sweep's. A planned entry has
        size -1, so it never passes ``verify``."""
        for name, rows in parts.items():
            if name not in self.record:
                self.note(name, PLANNED, "", rows)

    def write(self, files: Mapping[str, bytes | Callable[[Path], None]], rows: Mapping[str, tuple[int, int]] | None = None) -> None:
        """Write a batch of files, all or nothing: each is staged under a temporary name
        (bytes written, or a callable that writes the given path), and only when every one
        is staged are they renamed into place and recorded.

        Raises:
            StoreError: when a file cannot be written (a full disk, no permission); no
                file of the batch has then changed.
        """
        staged: list[tuple[Path, Path, str]] = []
        try:
            for name, content in files.items():
                target = self.path / name
                with disk_errors(target):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TEMP_PREFIX}{target.name}-")
                    os.close(fd)
                    staged.append((Path(tmp), target, name))
                    if callable(content):
                        content(Path(tmp))
                    else:
                        Path(tmp).write_bytes(content)
                    os.chmod(tmp, 0o666 & ~_UMASK)
        except BaseException:
            for tmp, _, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, target, name in staged:
            size, digest = file_digest(tmp)
            os.replace(tmp, target)
            with disk_errors(self.path / RECORD):
                self._append(Entry(name, size, digest, (rows or {}).get(name)))

    def remove(self, names: Iterable[str]) -> None:
        """Delete files the record lists (others are left alone), and record that."""
        root = self.path.resolve()
        for name in names:
            if name not in self.record:
                continue
            if not (self.path / name).parent.resolve().is_relative_to(root):
                continue  # a linked sub-folder: its files are not in this folder
            (self.path / name).unlink(missing_ok=True)
            self._append(Entry(name, 0, "", removed=True))
            parent = (self.path / name).parent
            if parent != self.path and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()

    def keep_only(self, names: Iterable[str]) -> None:
        """Delete every recorded file except ``names``: what an earlier result left here that
        the new one will not rewrite (its figures, its runs in the other layout)."""
        keep = set(names)
        self.remove([name for name in list(self.record) if name not in keep])

    def close(self) -> None:
        if self._record_fd is not None:
            os.close(self._record_fd)
            self._record_fd = None


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def disk_errors(path: Path):
    """Turn an OSError while writing ``path`` into one StoreError line."""
    try:
        yield
    except StoreError:
        raise
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise StoreError(f"no space left on the device while writing {str(path)!r}: free some space and run the command again") from None
        raise StoreError(f"cannot write {str(path)!r}: {error.strerror or error}") from None


@contextmanager
def claim(out: str | os.PathLike, *, command: str = "sweep", option: str = "--out"):
    """Claim ``out`` for one command: check it, lock it, yield a ``Folder`` to write through.

    Args:
        out: the folder (made, with its parents, if missing).
        command: what holds the lock, named to a second writer.
        option: the option that gave ``out``, for messages.

    Raises:
        StoreError: the name cannot be a folder; the folder holds files sweep did not
            write (the message names some); another command is writing it (named); it
            cannot be created or written.
    """
    from filelock import FileLock, Timeout

    path = check_name(out, option)
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "no space left on the device" if error.errno == errno.ENOSPC else (error.strerror or str(error))
        raise StoreError(f"cannot write results to {option} {str(out)!r}: {reason}") from None
    lock_path = path / LOCK
    if not created:
        # Checked before the lock file is made, so that a refused folder gains nothing; and
        # again under the lock, since another command may write it in between.
        _refuse_foreign(path, option, out)
    lock = FileLock(lock_path, timeout=0)
    folder = None
    try:
        try:
            lock.acquire()
        except Timeout:
            raise StoreError(f"{option} {str(out)!r} is being written by {_holder_text(lock_path)}: wait for it to finish, or choose another folder") from None
        except OSError as error:
            raise StoreError(f"cannot write results to {option} {str(out)!r}: {error.strerror or error}") from None
        with disk_errors(lock_path):
            fd = os.open(lock_path, os.O_WRONLY)
            try:
                os.ftruncate(fd, 0)
                os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": command[:200]}).encode())
            finally:
                os.close(fd)
        record = _refuse_foreign(path, option, out)
        folder = Folder(path, record, created)
        yield folder
    except BaseException:
        if folder is not None:
            folder.close()
        if created and path.is_dir() and all(_is_ours(p.name) or p.name == RECORD for p in path.iterdir()) and not _recorded(path):
            lock.release()
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        if folder is not None:
            folder.close()
        if lock.is_locked:
            lock.release()


def _refuse_foreign(path: Path, option: str, out) -> dict[str, Entry]:
    """The folder's record; StoreError when the folder holds files sweep did not write."""
    record = read_record(path)
    foreign = foreign_files(path, record)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise StoreError(f"{option} {str(out)!r} holds files sweep did not write ({shown}): choose a new or empty folder, or move them away")
    return record


def _recorded(path: Path) -> bool:
    try:
        return bool(read_record(path))
    except StoreError:
        return True


def verify(folder: Path, names: Iterable[str], record: Mapping[str, Entry] | None = None) -> list[str]:
    """The files among ``names`` that are missing or differ from their record (size or
    SHA-256), or that the record does not list: what a reader must not trust."""
    record = read_record(folder) if record is None else record
    bad = []
    for name in names:
        entry = record.get(name)
        target = folder / name
        if entry is None or not target.is_file():
            bad.append(name)
            continue
        if target.stat().st_size != entry.size or file_digest(target)[1] != entry.sha256:
            bad.append(name)
    return bad


"""The files of a run directory, opened so that nothing is read or written through a link or outside it.

`Folder` is a run directory (or a folder inside one) held as a directory descriptor. The run directory
itself is opened with O_NOFOLLOW (the folders above it may be links, the run directory may not), and
every folder and file inside it is opened relative to its parent's descriptor with O_NOFOLLOW as well:
a `control/` or a `config.json` that is a symbolic link, a FIFO or a device is refused
(`UnsafePathError`), never followed. No path is resolved twice, so nothing can be swapped in between a
check and a write.

Files are created with mode 0o666 and folders with 0o777, both reduced by the process umask, as any
shell tool creates them. A replacement is atomic: a temporary file beside the target, fsync, rename,
fsync of the folder. Appends are fsync'ed.

`WriterLock`: one writer per run directory. An exclusive `fcntl.flock` on `writer.lock` in the top run
directory, held by a process for as long as it writes; the kernel drops it when the process ends, however
it ends (kill -9 included), so a lock is never stale. Within one process the lock is shared by every
`RunDir` of that directory (counted), so nested objects of one writer do not lock each other out.

POSIX only (directory descriptors, O_NOFOLLOW, flock).
"""
from __future__ import annotations

import errno
import fcntl
import os
import secrets
import socket
import stat
import threading
import time
from pathlib import Path
from typing import BinaryIO, Callable

from numerics.cli import UsageError

LOCK_FILE = "writer.lock"
FILE_MODE = 0o666
FOLDER_MODE = 0o777
_LINK_ERRNOS = (errno.ELOOP, errno.EMLINK)
"""What open(O_NOFOLLOW) reports for a symbolic link (Linux, macOS: ELOOP; FreeBSD: EMLINK)."""


class RunDirError(UsageError):
    """A run directory, or a file in it, that cannot be used; the message is one line naming the path."""


class UnsafePathError(RunDirError):
    """A symbolic link, FIFO, device or socket where a run directory's folder or regular file should be."""


class RunDirLocked(RunDirError):
    """Another process writes to this run directory."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "a FIFO, socket or device"


def _refused(path: Path, what: str) -> UnsafePathError:
    return UnsafePathError(f"{path} is {what}; a run directory and everything in it must be real folders and "
                           f"files (nothing is read or written through a link)")


def _not_regular(path: Path, mode: int) -> RunDirError:
    """The error for an entry of kind `mode` where a regular file belongs."""
    if stat.S_ISLNK(mode):
        return _refused(path, "a symbolic link")
    if stat.S_ISDIR(mode):
        return RunDirError(f"{path} is a directory, not a regular file")
    return UnsafePathError(f"{path} is {_kind(mode)}, not a regular file")


def _os_error(action: str, path: Path, err: OSError) -> RunDirError:
    return RunDirError(f"cannot {action} {path}: {err.strerror or err}")


class Folder:
    """A folder of a run directory, held open as a descriptor (see the module docstring)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, *, create: bool = False) -> "Folder | None":
        """The folder `root`, opened without following a link there; None when it does not exist and
        `create` is False. With `create`, it and any missing parent are made (umask applies)."""
        root = Path(root)
        if create:
            try:
                os.makedirs(root, mode=FOLDER_MODE, exist_ok=True)
            except FileExistsError:
                pass  # a file, or a link: told apart below
            except OSError as err:
                raise _os_error("create run directory", root, err) from None
        try:
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise cls._open_error(root, err, os.lstat if os.path.lexists(root) else None) from None
        return cls(fd, root)

    @staticmethod
    def _open_error(path: Path, err: OSError, lstat: Callable | None) -> RunDirError:
        if err.errno in _LINK_ERRNOS:
            return _refused(path, "a symbolic link")
        if err.errno == errno.ENOTDIR and lstat is not None:
            mode = lstat(path).st_mode
            return _refused(path, _kind(mode)) if stat.S_ISLNK(mode) else RunDirError(
                f"{path} is not a directory ({_kind(mode)}); choose another run directory")
        return _os_error("open run directory", path, err)

    def subfolder(self, name: str, *, create: bool = False) -> "Folder | None":
        """The folder `name` inside this one (None if missing and not `create`)."""
        path = self.path / name
        if create:
            try:
                os.mkdir(name, FOLDER_MODE, dir_fd=self.fd)
            except FileExistsError:
                pass
            except OSError as err:
                raise _os_error("create", path, err) from None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise self._open_error(path, err, lambda _: os.stat(name, dir_fd=self.fd, follow_symlinks=False)) from None
        return Folder(fd, path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Folder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def identity(self) -> tuple[int, int]:
        """(device, inode): the same folder however it was named."""
        st = os.fstat(self.fd)
        return st.st_dev, st.st_ino

    # -- entries ------------------------------------------------------------------------------
    def entry_mode(self, name: str) -> int | None:
        """st_mode of `name` itself (a link is not followed); None if absent."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _os_error("inspect", self.path / name, err) from None

    def has_file(self, name: str) -> bool:
        """True when `name` is a regular file, False when absent; RunDirError when it is anything else."""
        mode = self.entry_mode(name)
        if mode is None:
            return False
        if not stat.S_ISREG(mode):
            raise _not_regular(self.path / name, mode)
        return True

    def open_fd(self, name: str, flags: int) -> int:
        """os.open of the regular file `name` with O_NOFOLLOW (O_NONBLOCK, so a FIFO cannot block)."""
        path = self.path / name
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, FILE_MODE, dir_fd=self.fd)
        except OSError as err:
            if err.errno in _LINK_ERRNOS:
                raise _refused(path, "a symbolic link") from None
            if err.errno == errno.ENOENT and not flags & os.O_CREAT:
                raise
            raise _os_error("open", path, err) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise _not_regular(path, mode)
        os.set_blocking(fd, True)
        return fd

    def open_read(self, name: str) -> BinaryIO | None:
        """The regular file `name` for reading; None if absent."""
        try:
            return os.fdopen(self.open_fd(name, os.O_RDONLY), "rb")
        except FileNotFoundError:
            return None

    def read_bytes(self, name: str, limit: int) -> bytes | None:
        """The content of the regular file `name` (at most `limit` bytes, else RunDirError); None if absent."""
        handle = self.open_read(name)
        if handle is None:
            return None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise RunDirError(f"{self.path / name} is {size} bytes, more than the {limit} a run directory's "
                                  f"JSON file may hold")
            return handle.read()

    def open_append(self, name: str) -> BinaryIO:
        """The regular file `name` opened for appending (created if absent), readable for its tail."""
        return os.fdopen(self.open_fd(name, os.O_RDWR | os.O_APPEND | os.O_CREAT), "r+b", buffering=0)

    def replace(self, name: str, write: Callable[[BinaryIO], None]) -> None:
        """Atomically replace `name` by what `write(file)` writes (temporary file beside it, fsync,
        rename, fsync of the folder). A link at `name` is replaced, never followed."""
        temp = f".{name}.{secrets.token_hex(6)}.tmp"
        path = self.path / name
        try:
            with os.fdopen(self.open_fd(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException as err:
            try:
                os.unlink(temp, dir_fd=self.fd)
            except OSError:
                pass
            if isinstance(err, OSError) and not isinstance(err, RunDirError):
                raise _os_error("write", path, err) from None
            raise
        self.fsync()

    def fsync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError:
            pass  # some file systems cannot fsync a folder; the rename itself is atomic


# -------------------------------------------------------------------------------------------------
# the writer lock
# -------------------------------------------------------------------------------------------------
_held: dict[tuple[int, int], list[int]] = {}
"""(device, inode) of a locked run directory -> [lock file descriptor, holders in this process]."""
_held_guard = threading.Lock()


class WriterLock:
    """The exclusive writer lock of one run directory (see the module docstring)."""

    def __init__(self, folder: Folder) -> None:
        self.key = folder.identity()
        self.path = folder.path
        with _held_guard:
            if self.key in _held:
                _held[self.key][1] += 1
                return
            fd = folder.open_fd(LOCK_FILE, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = os.pread(fd, 200, 0).decode(errors="replace").split()
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise _os_error("lock", self.path / LOCK_FILE, err) from None
                who = f"pid {holder[0]} on {holder[1]}, since {holder[2]}" if len(holder) >= 3 else "pid unknown"
                raise RunDirLocked(f"{self.path} is in use by another process ({who}); wait for it to finish "
                                   f"or stop it, then run the command again") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode(), 0)
            _held[self.key] = [fd, 1]

    def release(self) -> None:
        """Give this holder's share back; the lock itself goes when the last holder of the process goes."""
        with _held_guard:
            entry = _held.get(self.key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del _held[self.key]
                os.close(entry[0])


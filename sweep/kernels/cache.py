"""Where compiled kernels live: generated modules in the user's private cache folder, imported
with Numba's on-disk cache on, or compiled in memory when that folder cannot be trusted.

Each generated module is named by the hash of its text, and its text starts with a digest of
every source it is built from (``sources_digest``), so the same parts map to the same file in
every process and on every machine, Numba finds its compiled code there, and an upgraded
helper or compiler never runs old machine code. The text is all a remote worker needs to
rebuild the same kernel.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import ModuleType

_LOADED: dict[str, ModuleType] = {}


def cache_dir() -> Path:
    """Folder for generated kernel modules and, in its ``__pycache__``, Numba's compiled code:
    ``$SWEEP_CACHE_DIR`` if set, else the user's own cache folder (``platformdirs``'
    ``user_cache_dir("sweep")``, ``~/.cache/sweep`` on Linux)."""
    if os.environ.get("SWEEP_CACHE_DIR"):
        return Path(os.environ["SWEEP_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("sweep", appauthor=False))


def private_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` may not hold code that this process loads, or None if it may: it must
    be a real folder (not a link), owned by this user, and writable by no one else."""
    try:
        info = os.lstat(folder)
    except OSError as error:
        return f"it cannot be read ({error.strerror})"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return "it is not a plain folder (a link or a file)"
    if info.st_uid != os.geteuid():
        return f"it belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"others may write to it (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _private_cache() -> Path | None:
    """The kernel cache folder, made private (0700) if it is new and checked before any
    code is loaded from it, with Numba's ``__pycache__`` inside it; None (after saying why,
    once) when it cannot be used, in which case kernels are compiled in memory only.
    Never a shared temporary folder: another user could plant code there."""
    global _CACHE_CHECKED
    if _CACHE_CHECKED is not None:
        return _CACHE_CHECKED or None
    folder = cache_dir()
    problem = None
    for path in (folder, folder / "__pycache__"):
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            problem = f"{path} cannot be created ({error.strerror})"
            break
        reason = private_folder_problem(path)
        if reason:
            problem = f"{path} is not private: {reason}"
            break
    if problem:
        print(f"sweep: not caching compiled kernels on disk, because {problem}; compiling them in memory instead (set SWEEP_CACHE_DIR to a private folder)", file=sys.stderr)
        _CACHE_CHECKED = False
        return None
    _CACHE_CHECKED = folder
    return folder


_CACHE_CHECKED: Path | bool | None = None


def digest_files() -> list[Path]:
    """The sweep sources a generated kernel can import or inline: every module under
    ``sweep/kernels`` and ``sweep/optim`` (the gradient noise is imported from there) and
    ``sweep/outcomes.py``, sorted."""
    package = Path(__file__).parent.parent
    found = [*(package / "kernels").rglob("*.py"), *(package / "kernels").rglob("*.txt"), *(package / "optim").rglob("*.py"), package / "outcomes.py"]
    return sorted(found)


@functools.lru_cache(maxsize=1)
def sources_digest() -> str:
    """A digest of everything a generated kernel is built from besides its own text: the
    sweep sources it imports or inlines (``digest_files``) and the versions of Numba and
    llvmlite. It is written into every generated module, so that a changed helper or
    compiler gives new modules, never old machine code from the cache."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    package = Path(__file__).parent.parent
    for path in digest_files():
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    for name in ("numba", "llvmlite"):
        digest.update(f"{name}=={version(name)}".encode())
    return digest.hexdigest()[:20]


def load_source(source: str, user_globals: dict | None = None) -> ModuleType:
    """Import a generated kernel module: from the private cache folder (written there once,
    under the hash of its text, so Numba's on-disk cache of its compiled code is found by
    every later process), or compiled in memory when that folder cannot be used.

    Args:
        source: module text, as made by ``sweep.kernels.generator.kernel_source``.
        user_globals: objects the text uses as globals (a user's jitted functions): such a
            module is compiled in memory only, since Numba cannot tell when they change.

    Returns:
        The imported module; the same object for the same text within a process.
    """
    source = f"# sweep sources {sources_digest()}\n" + source
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    if user_globals:
        digest += "_" + "_".join(f"{id(value):x}" for value in user_globals.values())
    if digest in _LOADED:
        return _LOADED[digest]
    name = f"sweep_kernel_{digest}"
    folder = _private_cache() if user_globals is None else None
    path = _write_once(folder, name, source) if folder is not None else None
    if path is None:
        module = ModuleType(name)
        module.__dict__.update(user_globals or {})
        sys.modules[name] = module
        exec(compile(source.replace("cache=True", "cache=False"), f"<sweep kernel {digest}>", "exec"), module.__dict__)
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    _LOADED[digest] = module
    return module


def _write_once(folder: Path, name: str, source: str) -> Path | None:
    """The module's file in the cache folder, written if missing or different; None if it
    cannot be written."""
    try:
        path = folder / f"{name}.py"
        if not path.exists() or path.read_text() != source:
            # Write then rename: a concurrent process never imports half a file.
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                handle.write(source)
            os.replace(tmp, path)
        return path
    except OSError:
        return None

"""Artifact files: where they live, written once and read-only, and which types they may hold.

A version's artifact lives beside the store, under
``models/<name>/<version>-<sha256 prefix>.skops`` (for a store at
``data/workbench.duckdb``: ``data/models/...``), and is read back only from there:
a regular file, of bounded size, never through a link. An in-memory store has no
folder: its artifacts go to a temporary folder made once per store object and
removed with it (or when the process ends).

Only the workbench's own recommenders, and the scipy arrays they are made of,
are trusted; any other type found in an artifact is refused before anything in
it is constructed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import ArtifactTampered, InvalidArgument, ModelNotFound
from workbench.faults import process_alive

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["MAX_ARTIFACT_BYTES", "artifact_name", "artifact_root", "trusted_types"]

#: The largest artifact the registry reads: far above any recommender the workbench
#: trains on one machine, and a bound on what an edited row can make it read.
MAX_ARTIFACT_BYTES = 4 * 1024**3

# Parts of a model skops stores besides the estimator itself.
_TRUSTED_PARTS = (
    "scipy.sparse._csr.csr_array",
    # The learning-to-rank re-ranker's default classifier keeps its trees in these.
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
_memory_artifacts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def artifact_root(store: Store) -> Path:
    """The folder that holds a store's artifacts: ``models/`` beside its file.

    An in-memory store gets a temporary folder, made once per store object.
    """
    if store.path is not None:
        return store.path.parent / "models"
    root = _memory_artifacts.get(store)
    if root is None:
        root = _memory_artifacts[store] = Path(tempfile.mkdtemp(prefix="workbench-models-"))
        # The artifacts go when the store does (or when the process ends).
        weakref.finalize(store, shutil.rmtree, root, ignore_errors=True)
    return root


def artifact_name(version: int, sha256: str) -> str:
    """The file name of a version's artifact: its number and the start of its SHA-256.

    Two stores that share a folder (and so ``models/``) never write the same file name
    for different models.
    """
    return f"{version}-{sha256[:16]}.skops"


def _stored_path(store: Store, path: Path) -> str:
    base = store.path.parent if store.path is not None else None
    if base is not None:
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(base))
    return str(path.resolve())


def _artifact_file(store: Store, stored: str, *, ref: str) -> Path:
    """The file a version row names, refused unless it is inside the store's models folder.

    A row is data: an edited ``artifact_path`` (absolute, or climbing out with ``..``, or
    through a symbolic link) must not make the registry read any other file.
    """
    root = artifact_root(store).resolve()
    path = Path(stored)
    if not path.is_absolute() and store.path is not None:
        path = store.path.parent / path
    if not path.resolve().is_relative_to(root):
        raise ArtifactTampered(
            f"The artifact path of {ref} ({stored}) leads outside the store's models folder "
            f"{root}; nothing was read. Register the model again."
        )
    return path


def _read_artifact(path: Path, *, ref: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_ARTIFACT_BYTES`.

    Opened without following a final symbolic link and without blocking (a FIFO would
    otherwise wait for a writer for ever), then checked before a byte is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError as error:
        raise ModelNotFound(
            f"The artifact of {ref} is missing: {path}. Restore it from a backup "
            "(its SHA-256 is in model_versions) or register the model again."
        ) from error
    except OSError as error:  # ELOOP: a symbolic link; others: not readable
        raise ArtifactTampered(
            f"The artifact of {ref} at {path} cannot be opened as a plain file "
            f"({error.strerror}); nothing was read."
        ) from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactTampered(
                f"The artifact of {ref} at {path} is not a regular file; nothing was read."
            )
        if info.st_size > MAX_ARTIFACT_BYTES:
            raise ArtifactTampered(
                f"The artifact of {ref} at {path} is {info.st_size:,} bytes, more than the "
                f"{MAX_ARTIFACT_BYTES:,} an artifact may have; nothing was read."
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_ARTIFACT_BYTES + 1)
    finally:
        os.close(fd)


def _write_partial(path: Path, content: bytes) -> Path:
    """Write ``content`` read-only beside ``path`` as ``NAME.PID.partial``; return that file.

    The caller renames it into place once the version's row is committed, so a reader
    never sees half a file and no file exists that no row names (for long).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(partial, 0o444)
    return partial


def _dead_partials(folder: Path) -> list[tuple[Path, Path]]:
    """``(partial, final)`` for each ``NAME.PID.partial`` in ``folder`` whose writer is gone."""
    found = []
    for partial in sorted(folder.glob("*.partial")) if folder.is_dir() else []:
        name, _, pid = partial.name.removesuffix(".partial").rpartition(".")
        if pid.isdigit() and not process_alive(int(pid)):
            found.append((partial, partial.with_name(name)))
    return found


def _remove_artifact(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@functools.cache
def trusted_types() -> frozenset[str]:
    """Types an artifact may contain: the workbench's recommenders and their parts."""
    from workbench.recommend import MODELS, LearningToRankRecommender

    own = {_type_name(cls) for cls in (*MODELS.values(), LearningToRankRecommender)}
    return frozenset(own | set(_TRUSTED_PARTS))


def _check_registrable(model: Any) -> None:
    from sklearn.utils.validation import NotFittedError, check_is_fitted

    if _type_name(type(model)) not in trusted_types():
        raise InvalidArgument(
            f"A {_type_name(type(model))} cannot be registered: the registry loads back only "
            f"the workbench's own models ({', '.join(sorted(trusted_types() - set(_TRUSTED_PARTS)))}), "
            "so that loading never trusts other code."
        )
    try:
        check_is_fitted(model)
    except NotFittedError as error:
        raise InvalidArgument(
            f"This {type(model).__name__} is not fitted; fit it before registering it."
        ) from error


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_trusted(found: list[str], *, what: str) -> None:
    unknown = sorted(set(found) - trusted_types())
    if unknown:
        raise InvalidArgument(
            f"{what} cannot be registered: its artifact would hold types the registry does "
            f"not trust ({', '.join(unknown)}), so it could not be loaded back safely. "
            "Register one of workbench.recommend.MODELS' recommenders."
        )

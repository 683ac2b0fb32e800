"""Artifact files: where they live, written once and read-only, and which types they may hold.

A version's artifact lives beside the store, under ``models/<name>/<version>.skops``
(for a store at ``data/workbench.duckdb``: ``data/models/...``). An in-memory
store has no folder: its artifacts go to a temporary folder made once per store
object and removed with it (or when the process ends), unless ``artifact_dir``
names one.

Only the workbench's own recommenders, and the scipy arrays they are made of,
are trusted; any other type found in an artifact is refused before anything in
it is constructed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument, StoreError

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["artifact_root", "trusted_types"]

# Parts of a model skops stores besides the estimator itself.
_TRUSTED_PARTS = ("scipy.sparse._csr.csr_array",)
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


def _stored_path(store: Store, path: Path) -> str:
    base = store.path.parent if store.path is not None else None
    if base is not None:
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(base))
    return str(path.resolve())


def _artifact_file(store: Store, stored: str) -> Path:
    path = Path(stored)
    if not path.is_absolute() and store.path is not None:
        path = store.path.parent / path
    return path


def _write_once(path: Path, content: bytes) -> None:
    """Write a new, read-only file; never replace one (versions are immutable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise StoreError(
            f"An artifact already exists at {path}, but the store lists no such version. "
            "It was left by another store or an interrupted registration: move it aside "
            "and register again."
        )
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(partial, 0o444)
    os.replace(partial, path)


def _remove_artifact(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@functools.cache
def trusted_types() -> frozenset[str]:
    """Types an artifact may contain: the workbench's recommenders and their parts."""
    from workbench.recommend import MODELS

    own = {_type_name(cls) for cls in MODELS.values()}
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

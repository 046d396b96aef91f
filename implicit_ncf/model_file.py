"""What is in a model file, and how it is written and read.

One file per fitted :class:`~implicit_ncf.NeuralCF`, written by :func:`save_model` with
``torch.save`` and read by :func:`load_model` with ``torch.load(..., weights_only=True)``, which
cannot run code. The payload is a dict of tensors and plain Python values:

``format``, ``format_version``
    ``"implicit_ncf.model"`` and the version of this layout (1).
``params``
    The estimator's constructor parameters (``get_params()``; ``trainer_kwargs`` is not saved).
``users``, ``items``
    The raw ids of the index order (lists of int, float, str or bool): sorted after ``fit``,
    with the ids added by ``partial_fit`` after them, so the tables' rows keep their ids.
``seen_indptr``, ``seen_indices``
    The training interactions as the CSR arrays of the (users x items) seen matrix.
``item_popularity``
    Training interactions per item.
``state_dict``
    The network's weights.
``best_epoch``, ``history``, ``fit_time``
    Training records.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from .data import IdEncoder

if TYPE_CHECKING:
    from .estimator import NeuralCF

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_model", "save_model"]

FORMAT_NAME = "implicit_ncf.model"
FORMAT_VERSION = 1


def save_model(est: NeuralCF, path: str | os.PathLike[str]) -> None:
    """Write the fitted ``est`` to ``path`` atomically (see :meth:`NeuralCF.save`)."""
    est._check_fitted()
    params = {name: _plain(value) for name, value in est.get_params().items()}
    params["trainer_kwargs"] = None
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "params": params,
        "users": _ids_to_payload(est.user_encoder_.classes_),
        "users_dtype": est.user_encoder_.classes_.dtype.str,
        "items": _ids_to_payload(est.item_encoder_.classes_),
        "items_dtype": est.item_encoder_.classes_.dtype.str,
        "seen_indptr": torch.from_numpy(est.seen_.indptr.astype(np.int64)),
        "seen_indices": torch.from_numpy(est.seen_.indices.astype(np.int64)),
        "item_popularity": torch.from_numpy(est.item_popularity_.astype(np.int64)),
        "state_dict": {k: v.detach().cpu() for k, v in est.network_.state_dict().items()},
        "best_epoch": est.best_epoch_,
        "history": [
            {k: str(v) if isinstance(v, str) else float(v) for k, v in row.items()}  # type: ignore[arg-type]
            for row in est.history_
        ],
        "fit_time": float(est.fit_time_),
        "optimizer": str(getattr(est, "optimizer_", est.optimizer)),
        "penalty_search": getattr(est, "penalty_search_", None),
    }
    path = Path(path)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path`` with the permissions a plain ``open(path, "wb")`` would give:
    those of the file it replaces, else ``0o666`` less the umask (``mkstemp`` gives ``0o600``,
    which hides a shared model from its other readers)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            )
        except FileExistsError:
            continue
        if mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, mode)
        return fd, tmp


def load_model(cls: type[NeuralCF], path: str | os.PathLike[str]) -> NeuralCF:
    """Read a model written by :func:`save_model` into a new ``cls`` (see :meth:`NeuralCF.load`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {str(path)!r}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        kind = type(exc).__qualname__
        if type(exc).__module__ not in ("builtins", None):
            kind = f"{type(exc).__module__}.{kind}"  # struct.error, not a bare "error"
        reason = f"{kind}: {str(exc).splitlines()[0][:200]}" if str(exc) else kind
        raise ValueError(
            f"could not load {str(path)!r} as an implicit_ncf model: the file is truncated, "
            f"corrupted, or holds objects other than tensors and plain values (refused "
            f"without running them). Re-save it with NeuralCF.save. ({reason})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(path)!r} is not an implicit_ncf model file.")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was written in model format version {version!r}; this version of "
            f"implicit_ncf reads version {FORMAT_VERSION}. Load it with the version that "
            "wrote it, or retrain."
        )
    try:
        valid = set(cls._get_param_names())
        params = {k: v for k, v in payload["params"].items() if k in valid}
        # files written before gmf_output existed trained GMF's output vector
        params.setdefault("gmf_output", "learned")
        # and before loss existed, the NCF paper's BCE (the default until loss="auto")
        params.setdefault("loss", "bce")
        if isinstance(params.get("hidden_layers"), list):  # saved as a list, passed as a tuple
            params["hidden_layers"] = tuple(params["hidden_layers"])
        est = cls(**params)
        users = _encoder_from_payload("user", payload["users"], payload.get("users_dtype"))
        items = _encoder_from_payload("item", payload["items"], payload.get("items_dtype"))
        indptr = payload["seen_indptr"].numpy()
        indices = payload["seen_indices"].numpy()
        seen = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(len(users), len(items)),
        )
        network = est._build_network(len(users), len(items))
        network.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{str(path)!r} is an implicit_ncf model file but its contents are inconsistent "
            f"({type(exc).__name__}: {exc}); re-save it with NeuralCF.save."
        ) from exc
    est.user_encoder_, est.item_encoder_, est.seen_ = users, items, seen
    est.item_popularity_ = payload["item_popularity"].numpy()
    est.history_ = payload.get("history", [])
    est.best_epoch_ = payload.get("best_epoch")
    est.fit_time_ = payload.get("fit_time", float("nan"))
    # files written before optimizer="auto" hold the one used in their params
    est.optimizer_ = str(payload.get("optimizer", est.optimizer))
    est.penalty_search_ = payload.get("penalty_search")
    est.network_ = network.eval()
    return est


def _ids_to_payload(ids: np.ndarray) -> list[Any]:
    out = []
    for value in ids.tolist():
        if isinstance(value, int | float | str | bool) or value is None:
            out.append(value)
        else:
            raise TypeError(
                f"cannot save ids of type {type(value).__name__} ({value!r}); use int or str ids."
            )
    return out


def _encoder_from_payload(name: str, ids: list[Any], dtype: str | None) -> IdEncoder:
    """Rebuild an encoder from its ids and the dtype they had (``None`` in files that predate
    the dtype: the dtype is then inferred, which turns uint64 ids above 2**63 into floats)."""
    enc = IdEncoder(name)
    if dtype is not None and np.dtype(dtype) != object:
        enc.classes_ = np.array(ids, dtype=np.dtype(dtype))
    elif dtype is not None or (ids and not _homogeneous(ids)):
        enc.classes_ = np.fromiter(ids, dtype=object, count=len(ids))
    else:
        enc.classes_ = np.array(ids)
    enc.__setstate__(dict(enc.__dict__))
    return enc


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones and sequences as lists, recursively: what
    ``torch.load(weights_only=True)`` accepts (a ``np.float64`` learning rate is refused)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _homogeneous(ids: list[Any]) -> bool:
    kind = type(ids[0])
    return all(type(v) is kind for v in ids)

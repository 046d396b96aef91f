"""MovieLens loaders: the embedded ml-latest-small, GroupLens downloads and the NCF ML-1M split.

Three entry points return plain pandas frames:

* :func:`load_movielens` -- one row per rating (``user``, ``item``, ``rating``, ``timestamp``);
* :func:`load_movies` -- one row per movie (``item``, ``title``, ``genres``);
* :func:`load_ncf_ml1m` -- the leave-one-out split of He et al. (2017), with its 99 sampled
  negatives per user, read from a local copy of the NCF repository's ``Data/`` folder.

Licences
--------
All MovieLens data sets are published by GroupLens Research (University of Minnesota) for
non-commercial research only; publications that use them must cite

    F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context.
    ACM Transactions on Interactive Intelligent Systems 5(4):19. https://doi.org/10.1145/2827872

Only **ml-latest-small** may be redistributed ("so long as it is distributed under these same
license conditions"), so it ships inside this package, together with its ``README.txt`` that
carries those conditions (``implicit_ncf/resources/ml-latest-small/``); ``load_movielens()`` works
offline out of the box. The licences of ml-100k, ml-1m, ml-10m, ml-20m, ml-25m and ml-32m say
"The user may not redistribute the data without separate permission": this package never
contains them. They are downloaded on first use from GroupLens (https://files.grouplens.org/),
verified against a pinned sha256 checksum, unpacked into a local cache folder and read from
there afterwards. Each archive's README (with its licence) is unpacked beside the data. Splits
derived from them, such as the NCF ML-1M split, fall under the same licence.

GroupLens describes ml-latest-small as a development data set, "not an appropriate dataset for
shared research results": report published numbers on ml-1m / ml-100k.

Cache folder
------------
Downloads go to ``data_home`` when given, else to the folder named by the environment variable
``IMPLICIT_NCF_DATA``, else to ``~/.cache/implicit_ncf`` (see :func:`get_data_home`). The
download base URL can be replaced (a mirror, a test server) with the environment variable
``IMPLICIT_NCF_MOVIELENS_URL`` or the ``base_url`` argument of :func:`fetch_movielens`; the
archive must still match the pinned checksum in :data:`CHECKSUMS`.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.resources
import logging
import os
import re
import shutil
import ssl
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from implicit_ncf import __version__

from ._movielens_files import (
    _RATING_COLUMNS,
    _RATING_DTYPES,
    _read_movies_csv,
    _read_movies_dat,
    _read_ratings,
    _read_u_item,
)

__all__ = [
    "BASE_URL_ENV",
    "CHECKSUMS",
    "DATA_HOME_ENV",
    "DEFAULT_BASE_URL",
    "VARIANTS",
    "ChecksumMismatchError",
    "DownloadError",
    "NCFData",
    "UnverifiedDownloadWarning",
    "fetch_movielens",
    "get_data_home",
    "load_movielens",
    "load_movies",
    "load_ncf_ml1m",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
"""Where GroupLens publishes the MovieLens archives (``<base>/ml-1m.zip``, ...)."""

DATA_HOME_ENV = "IMPLICIT_NCF_DATA"
"""Environment variable naming the cache folder (used when ``data_home`` is not given)."""

BASE_URL_ENV = "IMPLICIT_NCF_MOVIELENS_URL"
"""Environment variable replacing :data:`DEFAULT_BASE_URL` (a mirror or a test server)."""

TIMEOUT = 60.0
"""Seconds a download may wait on the network for any single step (connect or read)."""

# sha256 of the official GroupLens zip archives, each copied from public sources that pin them:
# - tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt (commit 1c076ac3):
#   ml-100k, ml-1m, ml-20m, ml-25m and ml-latest-small (with byte sizes 4924029, 5917549,
#   198702078, 261978986 and 978202);
# - ISG-Siegen/OmniRec, src/omnirec/data_loaders/movielens_small.py (commit e498cceb): ml-1m and
#   ml-10m; movielens_large.py and movielens_100k.py there agree with TFDS on ml-20m, ml-25m,
#   ml-latest-small and ml-100k. The ml-10m value is also pinned, next to GroupLens's own
#   published md5 ce571fd55effeba0271552578f2648bd and 65566137 bytes, by several public
#   experiment manifests;
# - ankane/disco-cli, src/download.rs (commit 42f5617a): ml-32m, and agrees on ml-100k, ml-1m,
#   ml-25m and ml-latest-small. The ml-32m value is also recorded (238950008 bytes, GroupLens md5
#   d472be332d4daa821edc399621853b57) by independent public download manifests.
# A variant missing from this dict is downloaded unverified, with an UnverifiedDownloadWarning.
CHECKSUMS: dict[str, str] = {
    "latest-small": "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
    "100k": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    "1m": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    "10m": "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862",
    "20m": "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
    "25m": "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
    "32m": "e4a68655d7386b8f95f2f2424b2ff975dfdd15ffd59e0d864a14dca43e99d6ee",
}

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A MovieLens archive could not be downloaded (HTTP error, network failure, bad archive)."""


class ChecksumMismatchError(DownloadError):
    """A MovieLens archive does not have the pinned sha256; it was refused (and deleted)."""


class UnverifiedDownloadWarning(UserWarning):
    """An archive was used without checksum verification, because no sha256 is known for it.

    Pass ``sha256=`` to :func:`fetch_movielens` to verify it, or silence the warning with
    ``warnings.filterwarnings("ignore", category=UnverifiedDownloadWarning)``.
    """


@dataclass(frozen=True)
class _Variant:
    name: str
    archive: str  # zip file name on GroupLens
    folders: tuple[str, ...]  # unpacked folder names; the first is the zip's top-level folder
    ratings: str
    movies: str
    kind: str  # "100k" (u.data / u.item), "dat" (:: separated) or "csv"
    movies_encoding: str


_VARIANTS: dict[str, _Variant] = {
    v.name: v
    for v in (
        _Variant(
            "latest-small",
            "ml-latest-small.zip",
            ("ml-latest-small",),
            "ratings.csv",
            "movies.csv",
            "csv",
            "utf-8",
        ),
        _Variant("100k", "ml-100k.zip", ("ml-100k",), "u.data", "u.item", "100k", "latin-1"),
        _Variant("1m", "ml-1m.zip", ("ml-1m",), "ratings.dat", "movies.dat", "dat", "latin-1"),
        _Variant(
            "10m",
            "ml-10m.zip",
            ("ml-10M100K", "ml-10m"),
            "ratings.dat",
            "movies.dat",
            "dat",
            "utf-8",
        ),
        _Variant("20m", "ml-20m.zip", ("ml-20m",), "ratings.csv", "movies.csv", "csv", "utf-8"),
        _Variant("25m", "ml-25m.zip", ("ml-25m",), "ratings.csv", "movies.csv", "csv", "utf-8"),
        _Variant("32m", "ml-32m.zip", ("ml-32m",), "ratings.csv", "movies.csv", "csv", "utf-8"),
    )
}

VARIANTS: tuple[str, ...] = tuple(_VARIANTS)
"""Valid ``variant`` values: ``"latest-small"`` (embedded) and the downloadable releases."""


# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------


def _variant(variant: Any) -> _Variant:
    if not isinstance(variant, str):
        raise TypeError(
            f"variant must be a string, one of {list(VARIANTS)!r}; got {type(variant).__name__} "
            f"{variant!r}."
        )
    key = variant.strip().lower()
    key = key.removeprefix("ml-")
    if key not in _VARIANTS:
        raise ValueError(
            f"variant must be one of {list(VARIANTS)!r}; got {variant!r}. "
            f"'latest-small' ships with the package, the others are downloaded from GroupLens."
        )
    return _VARIANTS[key]


def get_data_home(data_home: str | os.PathLike[str] | None = None) -> Path:
    """Folder where downloaded MovieLens archives are unpacked and looked up.

    Parameters
    ----------
    data_home : str, path-like or None, default None
        Explicit folder. When None, the environment variable ``IMPLICIT_NCF_DATA`` is used if set
        and non-empty, else ``~/.cache/implicit_ncf``.

    Returns
    -------
    pathlib.Path
        The folder, with ``~`` expanded. It is not created here.

    Examples
    --------
    >>> get_data_home("/tmp/movielens").as_posix()
    '/tmp/movielens'
    """
    if data_home is None:
        env = os.environ.get(DATA_HOME_ENV, "").strip()
        data_home = env if env else Path("~") / ".cache" / "implicit_ncf"
    elif not isinstance(data_home, (str, os.PathLike)):
        raise TypeError(
            f"data_home must be a folder path (str or os.PathLike) or None; got "
            f"{type(data_home).__name__} {data_home!r}."
        )
    return Path(data_home).expanduser()


def _base_url(base_url: str | None) -> str:
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    elif not isinstance(base_url, str) or not base_url.strip():
        raise ValueError(
            f"base_url must be a non-empty URL string such as {DEFAULT_BASE_URL!r}; got "
            f"{base_url!r}."
        )
    return base_url.strip().rstrip("/")


def _search_dirs(spec: _Variant, home: Path) -> list[Path]:
    # GroupLens layout first (<home>/ml-100k/u.data), then a folder holding the files directly.
    return [home / folder for folder in spec.folders] + [home]


def _find_local(spec: _Variant, filename: str, home: Path) -> Path | None:
    for folder in _search_dirs(spec, home):
        for name in (filename, filename + ".gz"):
            path = folder / name
            if path.is_file():
                return path
    return None


def _not_found(spec: _Variant, filename: str, home: Path) -> FileNotFoundError:
    looked = ", ".join(str(d / filename) + "[.gz]" for d in _search_dirs(spec, home))
    url = f"{_base_url(None)}/{spec.archive}"
    return FileNotFoundError(
        f"MovieLens {spec.name} is not available locally: looked for {looked}. Pass "
        f"download=True to fetch {url} from GroupLens into {home}, or point data_home at a "
        f"folder holding an unpacked copy ({spec.folders[0]}/{filename}, or {filename} itself; "
        f"gzipped files are accepted)."
    )


def _locate(spec: _Variant, filename: str, data_home: Any, download: Any) -> Path:
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False; got {download!r}.")
    home = get_data_home(data_home)
    found = _find_local(spec, filename, home)
    if found is not None:
        return found
    if not download:
        raise _not_found(spec, filename, home)
    _download_and_unpack(spec, home, base_url=None, sha256=None)
    found = _find_local(spec, filename, home)
    if found is None:
        raise FileNotFoundError(
            f"the MovieLens {spec.name} archive was unpacked into {home / spec.folders[0]} but "
            f"holds no {filename}; it is not the expected GroupLens release."
        )
    return found


# --------------------------------------------------------------------------------------------
# Download, verification, unpacking
# --------------------------------------------------------------------------------------------


def _expected_sha256(spec: _Variant, sha256: str | None) -> str | None:
    if sha256 is not None:
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256.strip()):
            raise ValueError(
                f"sha256 must be a 64-character hexadecimal digest; got {sha256!r}. Leave it as "
                f"None to use the pinned checksum in CHECKSUMS."
            )
        return sha256.strip().lower()
    pinned = CHECKSUMS.get(spec.name)
    if pinned is None:
        warnings.warn(
            f"no sha256 checksum is known for MovieLens {spec.name} ({spec.archive}); the archive "
            f"will be used without verification. Pass sha256=<digest> to fetch_movielens to "
            f"verify it, or silence this with warnings.filterwarnings('ignore', "
            f"category=UnverifiedDownloadWarning).",
            UnverifiedDownloadWarning,
            stacklevel=4,
        )
        return None
    return pinned.lower()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download_hint(spec: _Variant, url: str) -> str:
    return (
        f"Check the network connection and retry, or download {url} yourself, unzip it and pass "
        f"data_home=<the folder holding {spec.folders[0]}/> (or set {DATA_HOME_ENV})."
    )


def _download(url: str, spec: _Variant, home: Path, expected: str | None) -> Path:
    """Stream ``url`` into a temporary file in ``home``, verify it, return its path."""
    fd, name = tempfile.mkstemp(prefix=f".{spec.archive}.", suffix=".part", dir=home)
    tmp = Path(name)
    digest = hashlib.sha256()
    logger.info("downloading MovieLens %s from %s", spec.name, url)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(
                url, headers={"User-Agent": f"implicit_ncf/{__version__}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
            except urllib.error.HTTPError as exc:
                exc.close()
                raise DownloadError(
                    f"could not download MovieLens {spec.name} from {url}: HTTP {exc.code} "
                    f"{exc.reason}. {_download_hint(spec, url)}"
                ) from exc
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                http.client.HTTPException,
                ssl.SSLError,
            ) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DownloadError(
                    f"could not download MovieLens {spec.name} from {url}: {reason}. "
                    f"{_download_hint(spec, url)}"
                ) from exc
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise ChecksumMismatchError(
                f"refused the MovieLens {spec.name} archive downloaded from {url}: its sha256 is "
                f"{actual}, but the official {spec.archive} has {expected}. The download was "
                f"corrupted or the file differs from the GroupLens release; it was deleted and "
                f"nothing was unpacked. Retry later, or fetch the official archive yourself, "
                f"unzip it and pass data_home=<the folder holding {spec.folders[0]}/>."
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _safe_extract(archive: zipfile.ZipFile, destination: Path) -> None:
    root = destination.resolve()
    for member in archive.infolist():
        target = (root / member.filename).resolve()
        if target != root and root not in target.parents:
            raise DownloadError(
                f"refused to unpack archive member {member.filename!r}: it would be written "
                f"outside {destination}."
            )
    archive.extractall(destination)


def _unpack(zip_path: Path, spec: _Variant, home: Path) -> Path:
    """Unpack into a temporary folder, then move it into place as ``home/<folder>``."""
    target = home / spec.folders[0]
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.folders[0]}.", suffix=".unpack", dir=home))
    try:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                _safe_extract(archive, staging)
        except zipfile.BadZipFile as exc:
            raise DownloadError(
                f"{spec.archive} is not a valid zip archive ({exc}); if it is a copy in "
                f"data_home ({zip_path}), delete it and retry."
            ) from exc
        source = next(
            (
                d
                for d in [staging / f for f in spec.folders] + [staging]
                if (d / spec.ratings).is_file()
            ),
            None,
        )
        if source is None:
            raise DownloadError(
                f"the archive {spec.archive} holds no {spec.ratings}; it is not the GroupLens "
                f"MovieLens {spec.name} release."
            )
        try:
            source.rename(target)  # atomic: the folder appears complete or not at all
        except OSError:
            if not target.is_dir():
                raise
            # The folder already exists (a partial local copy, or a concurrent download):
            # add the files it lacks, keep the ones it has.
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    dest = target / path.relative_to(source)
                    if not dest.exists():
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(path, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("unpacked MovieLens %s into %s", spec.name, target)
    return target


def _download_and_unpack(
    spec: _Variant, home: Path, *, base_url: str | None, sha256: str | None
) -> Path:
    url = f"{_base_url(base_url)}/{spec.archive}"
    expected = _expected_sha256(spec, sha256)
    created = not home.exists()
    home.mkdir(parents=True, exist_ok=True)
    try:
        local_zip = home / spec.archive
        if local_zip.is_file():  # an archive the user downloaded by hand: verify, never delete
            actual = _sha256_file(local_zip)
            if expected is not None and actual != expected:
                raise ChecksumMismatchError(
                    f"refused {local_zip}: its sha256 is {actual}, but the official "
                    f"{spec.archive} has {expected}. Delete it (or replace it with the official "
                    f"archive from {url}) and retry."
                )
            return _unpack(local_zip, spec, home)
        archive = _download(url, spec, home, expected)
        try:
            return _unpack(archive, spec, home)
        finally:
            archive.unlink(missing_ok=True)
    except BaseException:
        if created and home.is_dir() and not any(home.iterdir()):
            home.rmdir()  # leave no trace of a failed first download
        raise


def fetch_movielens(
    variant: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    sha256: str | None = None,
) -> Path:
    """Download, verify and unpack a MovieLens release once; return the folder holding its files.

    Nothing is downloaded when the ratings file is already there (GroupLens layout
    ``<data_home>/ml-1m/ratings.dat``, or the file directly in ``data_home``, plain or gzipped).
    When ``<data_home>/<archive>.zip`` exists (downloaded by hand), it is verified and unpacked
    without using the network. Otherwise the archive is streamed into a temporary file in
    ``data_home``, its sha256 is checked, it is unpacked into a temporary folder that is then
    renamed into place, and the temporary files are removed: a failed or interrupted download
    never leaves a partial data set behind.

    Parameters
    ----------
    variant : {"100k", "1m", "10m", "20m", "25m", "32m", "latest-small"}
        The GroupLens release (``"ml-1m"`` is accepted for ``"1m"``). ``"latest-small"`` fetches
        the full official archive (with links and tags); :func:`load_movielens` never needs it.
    data_home : str, path-like or None, default None
        Cache folder; see :func:`get_data_home`.
    base_url : str or None, default None
        Where ``<archive>.zip`` is fetched from; default the environment variable
        ``IMPLICIT_NCF_MOVIELENS_URL``, else https://files.grouplens.org/datasets/movielens.
    sha256 : str or None, default None
        Expected sha256 of the zip archive; default the pinned value in :data:`CHECKSUMS`.

    Returns
    -------
    pathlib.Path
        The folder that holds the release's files (e.g. ``~/.cache/implicit_ncf/ml-1m``).

    Raises
    ------
    ValueError
        If ``variant`` is unknown or ``sha256`` is not a hexadecimal digest.
    DownloadError
        If the download fails (the message names the URL and how to use a manual copy).
    ChecksumMismatchError
        If the archive's sha256 differs from the expected one; a downloaded file is deleted.

    Warns
    -----
    UnverifiedDownloadWarning
        If no checksum is known for ``variant`` and none is given.

    See Also
    --------
    load_movielens : Read the ratings of a release (downloading it if needed).
    """
    spec = _variant(variant)
    home = get_data_home(data_home)
    found = _find_local(spec, spec.ratings, home)
    if found is not None:
        return found.parent
    return _download_and_unpack(spec, home, base_url=base_url, sha256=sha256)


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def _resource(name: str) -> Any:
    return importlib.resources.files("implicit_ncf") / "resources" / "ml-latest-small" / name


def load_movielens(
    variant: str = "latest-small",
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> pd.DataFrame:
    """Load MovieLens ratings: one row per rating, in file order.

    ``"latest-small"`` (100836 ratings, 610 users, 9724 movies) ships with the package and never
    touches the network. The other releases are read from ``data_home`` (or the cache folder),
    and downloaded from GroupLens on first use when ``download`` is True.

    Parameters
    ----------
    variant : {"latest-small", "100k", "1m", "10m", "20m", "25m", "32m"}, default "latest-small"
        The GroupLens release (``"ml-1m"`` is accepted for ``"1m"``).
    data_home : str, path-like or None, default None
        Folder holding an unpacked copy, in the GroupLens layout (``<data_home>/ml-100k/u.data``)
        or directly (``<data_home>/u.data``); gzipped files (``u.data.gz``, ``ratings.csv.gz``) are
        read too. Downloads go here. Default: see :func:`get_data_home`. Ignored for
        ``"latest-small"``.
    download : bool, default True
        Download the release when no local copy is found. Ignored for ``"latest-small"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``user`` (int64), ``item`` (int64, the MovieLens movie id), ``rating`` (float64:
        1-5 stars, half stars from ml-10m on) and ``timestamp`` (int64, unix seconds), with a
        ``RangeIndex``.

    Raises
    ------
    ValueError
        If ``variant`` is unknown.
    FileNotFoundError
        If ``download`` is False and no local copy exists; the message lists where it looked.
    DownloadError
        If the download fails.

    See Also
    --------
    load_movies : Titles and genres of the same release.
    fetch_movielens : Download and unpack a release without reading it.
    implicit_ncf.data.to_implicit : Turn ratings into implicit positives.

    Notes
    -----
    The data is for non-commercial research; cite Harper & Konstan (2015), "The MovieLens
    Datasets: History and Context", ACM TiiS 5(4):19, https://doi.org/10.1145/2827872.

    Examples
    --------
    >>> ratings = load_movielens()
    >>> ratings.shape
    (100836, 4)
    >>> list(ratings.columns)
    ['user', 'item', 'rating', 'timestamp']
    """
    spec = _variant(variant)
    if spec.name == "latest-small":
        with _resource("ratings.csv.gz").open("rb") as handle:
            return _read_ratings(handle, "csv", compression="gzip")
    path = _locate(spec, spec.ratings, data_home, download)
    logger.debug("reading MovieLens %s ratings from %s", spec.name, path)
    return _read_ratings(path, spec.kind)


def load_movies(
    variant: str = "latest-small",
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> pd.DataFrame:
    """Load MovieLens movies: id, title and ``|``-separated genres, in file order.

    Parameters
    ----------
    variant : {"latest-small", "100k", "1m", "10m", "20m", "25m", "32m"}, default "latest-small"
        The GroupLens release; ``"latest-small"`` ships with the package.
    data_home : str, path-like or None, default None
        As in :func:`load_movielens`.
    download : bool, default True
        As in :func:`load_movielens`.

    Returns
    -------
    pandas.DataFrame
        Columns ``item`` (int64, the movie id used by :func:`load_movielens`), ``title`` (str)
        and ``genres`` (str, genre names joined by ``"|"``, e.g. ``"Animation|Children's|Comedy"``).
        For ml-100k the genres are built from the 19 flag columns of ``u.item``; a movie with no
        flag gets ``"(no genres listed)"``, the marker of later releases.

    Raises
    ------
    ValueError
        If ``variant`` is unknown or the file is malformed.
    FileNotFoundError
        If ``download`` is False and no local copy exists.
    DownloadError
        If the download fails.

    Notes
    -----
    Encodings follow the releases: ml-100k ``u.item`` and ml-1m ``movies.dat`` are latin-1,
    ml-10m ``movies.dat`` and every ``movies.csv`` are UTF-8.

    Examples
    --------
    >>> movies = load_movies()
    >>> movies.shape
    (9742, 3)
    >>> movies.loc[0, "title"], movies.loc[0, "genres"]
    ('Toy Story (1995)', 'Adventure|Animation|Children|Comedy|Fantasy')
    """
    spec = _variant(variant)
    if spec.name == "latest-small":
        with _resource("movies.csv.gz").open("rb") as handle:
            return _read_movies_csv(handle, compression="gzip")
    path = _locate(spec, spec.movies, data_home, download)
    if spec.kind == "100k":
        return _read_u_item(path, spec.movies_encoding)
    if spec.kind == "dat":
        return _read_movies_dat(path, spec.movies_encoding)
    return _read_movies_csv(path)


# --------------------------------------------------------------------------------------------
# The NCF ML-1M split (He et al., 2017)
# --------------------------------------------------------------------------------------------


class NCFData(NamedTuple):
    """The NCF ML-1M split, as returned by :func:`load_ncf_ml1m` (a plain 3-tuple too)."""

    train: pd.DataFrame
    """Training positives, columns ``user``, ``item``."""
    test: pd.DataFrame
    """One held-out rating per user, columns ``user``, ``item``, ``rating``, ``timestamp``."""
    candidates: pd.DataFrame
    """Per user the test item then its sampled negatives, columns ``user``, ``item``,
    ``is_target``."""


def _find_ncf(folder: Path, name: str) -> Path | None:
    for candidate in (name, name + ".gz"):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def load_ncf_ml1m(path: str | os.PathLike[str]) -> NCFData:
    """Load the canonical NCF MovieLens-1M leave-one-out split with its 99 negatives per user.

    Reads the files of the ``Data/`` folder of He et al.'s reference implementation
    (github.com/hexiangnan/neural_collaborative_filtering), plain or gzipped:

    * ``ml-1m.train.rating`` (``user\\titem\\trating\\ttimestamp``) or, when that is absent,
      ``ml-1m.train.pairs`` (``user\\titem``), a faithful rebuild of its (user, item) pairs;
    * ``ml-1m.test.rating``: each user's latest rating, one line per user;
    * ``ml-1m.test.negative``: lines ``(user,item)\\tneg_1\\t...\\tneg_99``, aligned with the test
      file.

    Users and items are the NCF 0-based indices (``user = UserID - 1``; items numbered in order of
    first appearance in ``ratings.dat``), not MovieLens ids.

    Parameters
    ----------
    path : str or path-like
        The folder holding the files.

    Returns
    -------
    NCFData
        A named 3-tuple ``(train, test, candidates)``:

        - ``train``: columns ``user``, ``item`` (int64), 994169 rows, in file order;
        - ``test``: columns ``user``, ``item`` (int64), ``rating`` (float64), ``timestamp``
          (int64, unix seconds), one row per user (6040), in file order;
        - ``candidates``: columns ``user``, ``item`` (int64), ``is_target`` (bool): for each user,
          in test-file order, the test item (``is_target`` True) followed by the user's
          negatives in file order (``is_target`` False).

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder or a file is missing (the message lists the names tried).
    ValueError
        If a file is malformed, or the negatives file does not line up with the test file.

    Notes
    -----
    **Duplicate test items are dropped from the candidates.** The negatives in the original
    ``ml-1m.test.negative`` were sampled to avoid training items only, so 156 of the 6040 lists
    contain the user's own test item. The original evaluator (``evaluate.py``) scores the
    candidates through a dict keyed by item, so such a duplicate collapses into the test item and
    that user is ranked among 99 distinct items, not 100. ``candidates`` reproduces this by
    leaving those negatives out: it has ``6040 * 100 - 156 = 603844`` rows, and every item
    appears at most once per user. Ranking metrics computed over it therefore match the
    published protocol (HR@10 / NDCG@10 over 1 positive + 99 negatives).

    The data derives from MovieLens-1M and is under its licence (no redistribution); cite
    X. He, L. Liao, H. Zhang, L. Nie, X. Hu and T.-S. Chua, "Neural Collaborative Filtering",
    WWW 2017, for the split and Harper & Konstan (2015) for the data.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a folder path (str or os.PathLike); got {type(path).__name__}."
        )
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"path={str(path)!r} is not a folder; pass the folder holding ml-1m.test.rating and "
            f"ml-1m.test.negative (the Data/ folder of the NCF repository)."
        )

    def require(*names: str) -> Path:
        for name in names:
            found = _find_ncf(folder, name)
            if found is not None:
                return found
        tried = ", ".join(f"{n}[.gz]" for n in names)
        raise FileNotFoundError(f"{folder} holds none of {tried}; the NCF ML-1M split needs it.")

    train_path = require("ml-1m.train.rating", "ml-1m.train.pairs")
    train = pd.read_csv(
        train_path,
        sep="\t",
        header=None,
        usecols=[0, 1],
        names=["user", "item"],
        dtype={"user": "int64", "item": "int64"},
    )

    test = pd.read_csv(
        require("ml-1m.test.rating"),
        sep="\t",
        header=None,
        names=_RATING_COLUMNS,
        dtype=_RATING_DTYPES,
    )

    negative_path = require("ml-1m.test.negative")
    raw = pd.read_csv(negative_path, sep="\t", header=None, dtype={0: str})
    pair = raw[0].str.extract(r"^\((\d+),(\d+)\)$")
    negatives = raw.iloc[:, 1:]
    if pair.isna().to_numpy().any() or negatives.isna().to_numpy().any() or negatives.shape[1] < 1:
        raise ValueError(
            f"{negative_path}: every line must read '(user,item)' then the same number of "
            f"tab-separated negative item ids."
        )
    pos_user = pair[0].astype(np.int64).to_numpy()
    pos_item = pair[1].astype(np.int64).to_numpy()
    if len(pos_user) != len(test) or not (
        np.array_equal(pos_user, test["user"].to_numpy())
        and np.array_equal(pos_item, test["item"].to_numpy())
    ):
        raise ValueError(
            f"{negative_path} does not line up with the test file: its (user,item) pairs must "
            f"equal the test ratings' line by line ({len(pos_user)} vs {len(test)} lines)."
        )
    neg = negatives.to_numpy(dtype=np.int64)
    items = np.column_stack([pos_item, neg])
    keep = np.column_stack([np.ones(len(neg), dtype=bool), neg != pos_item[:, None]])
    is_target = np.zeros(items.shape, dtype=bool)
    is_target[:, 0] = True
    users = np.repeat(pos_user, items.shape[1]).reshape(items.shape)
    candidates = pd.DataFrame(
        {"user": users[keep], "item": items[keep], "is_target": is_target[keep]}
    )
    n_dropped = int((~keep).sum())
    if n_dropped:
        logger.debug("dropped %d negatives equal to their user's test item", n_dropped)
    return NCFData(train, test, candidates)

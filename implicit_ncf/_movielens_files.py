"""Readers of the MovieLens files: ratings (CSV, ``::``-separated ``.dat``, ml-100k's ``u.data``)
and movies (``movies.csv``, ``movies.dat``, ml-100k's ``u.item``) as plain pandas frames.

Used by :mod:`implicit_ncf.datasets`, which finds, downloads and verifies the files.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

# Genre flag columns of ml-100k's u.item, in file order (ml-100k README; also u.genre).
_GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_NO_GENRES = "(no genres listed)"  # the marker later MovieLens releases use
_RATING_COLUMNS = ["user", "item", "rating", "timestamp"]
_RATING_DTYPES = {"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"}


def _read_ratings(
    source: Path | IO[bytes], kind: str, *, compression: str = "infer"
) -> pd.DataFrame:
    if kind == "100k":  # u.data: user \t item \t rating \t timestamp, no header
        frame = pd.read_csv(
            source,
            sep="\t",
            header=None,
            names=_RATING_COLUMNS,
            dtype=_RATING_DTYPES,
            compression=compression,
        )
    elif kind == "dat":  # UserID::MovieID::Rating::Timestamp; split on ':' with the C engine
        frame = pd.read_csv(
            source,
            sep=":",
            header=None,
            usecols=[0, 2, 4, 6],
            dtype={0: "int64", 2: "int64", 4: "float64", 6: "int64"},
            compression=compression,
        )
        frame.columns = _RATING_COLUMNS
    else:  # ratings.csv: userId,movieId,rating,timestamp with a header
        frame = pd.read_csv(
            source,
            usecols=["userId", "movieId", "rating", "timestamp"],
            dtype={
                "userId": "int64",
                "movieId": "int64",
                "rating": "float64",
                "timestamp": "int64",
            },
            compression=compression,
        )
        frame = frame.rename(columns={"userId": "user", "movieId": "item"})[_RATING_COLUMNS]
    return frame.reset_index(drop=True)


def _read_text(path: Path, encoding: str) -> str:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding=encoding, newline="") as handle:
            return handle.read()
    return path.read_text(encoding=encoding)


def _read_movies_dat(path: Path, encoding: str) -> pd.DataFrame:
    # MovieID::Title::Genres. Titles contain ':' (and quotes), so split each line by hand: the id
    # ends at the first '::' and the genres start after the last one. A few thousand lines.
    items, titles, genres = [], [], []
    for number, line in enumerate(_read_text(path, encoding).splitlines(), start=1):
        if not line.strip():
            continue
        head, sep, rest = line.partition("::")
        title, sep2, genre = rest.rpartition("::")
        if not sep or not sep2:
            raise ValueError(
                f"{path}, line {number}: expected 'MovieID::Title::Genres'; got {line!r}."
            )
        items.append(int(head))
        titles.append(title)
        genres.append(genre)
    return pd.DataFrame(
        {"item": np.asarray(items, dtype=np.int64), "title": titles, "genres": genres}
    )


def _read_u_item(path: Path, encoding: str) -> pd.DataFrame:
    # id | title | release date | video release date | IMDb URL | 19 genre flags
    raw = pd.read_csv(
        path,
        sep="|",
        header=None,
        encoding=encoding,
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
        dtype=str,
    )
    if raw.shape[1] != 5 + len(_GENRES_100K):
        raise ValueError(
            f"{path}: expected {5 + len(_GENRES_100K)} '|'-separated fields per line (ml-100k "
            f"u.item); got {raw.shape[1]}."
        )
    flags = raw.iloc[:, 5:].to_numpy() == "1"
    names = np.asarray(_GENRES_100K, dtype=object)
    genres = ["|".join(names[row]) or _NO_GENRES for row in flags]
    return pd.DataFrame(
        {"item": raw[0].astype(np.int64).to_numpy(), "title": raw[1].to_list(), "genres": genres}
    )


def _read_movies_csv(source: Path | IO[bytes], *, compression: str = "infer") -> pd.DataFrame:
    frame = pd.read_csv(
        source,
        usecols=["movieId", "title", "genres"],
        dtype={"movieId": "int64", "title": str, "genres": str},
        keep_default_na=False,
        encoding="utf-8",
        compression=compression,
    )
    return frame.rename(columns={"movieId": "item"})[["item", "title", "genres"]]

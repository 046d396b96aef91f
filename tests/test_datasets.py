"""Tests for implicit_ncf.datasets: embedded data, local copies, downloads, the NCF split.

Downloads are exercised end to end against an HTTP server on 127.0.0.1 serving small zips built
here; no test touches the internet. Real-data checks read ../shared/data and skip without it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import socket
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from implicit_ncf import datasets
from implicit_ncf.datasets import (
    ChecksumMismatchError,
    DownloadError,
    UnverifiedDownloadWarning,
    fetch_movielens,
    get_data_home,
    load_movielens,
    load_movies,
    load_ncf_ml1m,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ML100K = SHARED_DATA / "ml-100k"
NCF_ML1M = SHARED_DATA / "ncf-ml-1m"

RATING_DTYPES = {"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"}

# A fake ml-100k release: four ratings and two movies in the GroupLens file formats.
U_DATA = b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t302\t5\t8\n"
U_ITEM = (
    "242|Kolya (1996)|24-Jan-1997||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "302|L.A. Confidential (1997)|01-Jan-1997||http://y|0|0|0|0|0|0|1|0|0|0|1|0|0|1|0|0|1|0|0\n"
).encode("latin-1")
EXPECTED_100K = pd.DataFrame(
    {
        "user": [196, 186, 22, 196],
        "item": [242, 302, 377, 302],
        "rating": [3.0, 3.0, 1.0, 5.0],
        "timestamp": [881250949, 891717742, 878887116, 8],
    }
).astype(RATING_DTYPES)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


FAKE_100K_ZIP = _zip({"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM, "ml-100k/README": b"x"})
FAKE_100K_SHA = hashlib.sha256(FAKE_100K_ZIP).hexdigest()


@dataclass
class Server:
    base_url: str
    files: dict[str, bytes]
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    """A static HTTP server on 127.0.0.1 (ephemeral port) that counts its requests."""
    state = Server(base_url="", files={"/movielens/ml-100k.zip": FAKE_100K_ZIP})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/movielens"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def mirror(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The test server as the download base URL, with the fake archive's checksum pinned."""
    monkeypatch.setenv(datasets.BASE_URL_ENV, server.base_url)
    monkeypatch.setitem(datasets.CHECKSUMS, "100k", FAKE_100K_SHA)
    monkeypatch.delenv(datasets.DATA_HOME_ENV, raising=False)
    return server


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ------------------------------------------------------------------------------------------
# Embedded ml-latest-small
# ------------------------------------------------------------------------------------------


def test_embedded_latest_small_ratings() -> None:
    ratings = load_movielens()
    assert list(ratings.columns) == ["user", "item", "rating", "timestamp"]
    assert ratings.dtypes.astype(str).to_dict() == RATING_DTYPES
    assert ratings.shape == (100836, 4)
    assert ratings["user"].nunique() == 610
    assert ratings["item"].nunique() == 9724
    assert isinstance(ratings.index, pd.RangeIndex)
    # file order: the first line of ratings.csv is 1,1,4.0,964982703
    assert ratings.iloc[0].tolist() == [1, 1, 4.0, 964982703]
    assert set(np.unique(ratings["rating"])) <= {x / 2 for x in range(1, 11)}


def test_embedded_latest_small_never_downloads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("latest-small must not touch the network")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", boom)
    frame = load_movielens("latest-small", data_home=tmp_path / "nowhere", download=False)
    assert len(frame) == 100836
    assert not (tmp_path / "nowhere").exists()


def test_embedded_latest_small_movies() -> None:
    movies = load_movies()
    assert list(movies.columns) == ["item", "title", "genres"]
    assert movies.shape == (9742, 3)
    assert movies["item"].dtype == np.int64
    assert movies["item"].is_unique
    assert movies.iloc[0].tolist() == [
        1,
        "Toy Story (1995)",
        "Adventure|Animation|Children|Comedy|Fantasy",
    ]
    assert set(load_movielens()["item"]) <= set(movies["item"])
    assert movies["title"].map(type).eq(str).all()


def test_embedded_readme_ships_with_the_data() -> None:
    readme = datasets._resource("README.txt").read_text(encoding="utf-8")
    assert "redistribute" in readme.lower()


# ------------------------------------------------------------------------------------------
# Variants, data home and argument checks
# ------------------------------------------------------------------------------------------


def test_unknown_variant_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"variant must be one of .*'1m'.*'32m'.*got '2m'"):
        load_movielens("2m")
    with pytest.raises(ValueError, match="variant"):
        load_movies("latest")
    with pytest.raises(ValueError, match="variant"):
        fetch_movielens("100m")
    with pytest.raises(TypeError, match="variant must be a string"):
        load_movielens(100)  # type: ignore[arg-type]


def test_ml_prefix_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_bytes(U_DATA)
    a = load_movielens("ml-100k", data_home=tmp_path, download=False)
    b = load_movielens("100K", data_home=tmp_path, download=False)
    pd.testing.assert_frame_equal(a, b)


def test_get_data_home_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(datasets.DATA_HOME_ENV, raising=False)
    assert get_data_home() == tmp_path / "home" / ".cache" / "implicit_ncf"
    monkeypatch.setenv(datasets.DATA_HOME_ENV, str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv(datasets.DATA_HOME_ENV, "")
    assert get_data_home() == tmp_path / "home" / ".cache" / "implicit_ncf"
    with pytest.raises(TypeError, match="data_home"):
        get_data_home(3)  # type: ignore[arg-type]


def test_download_must_be_bool(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="download must be True or False"):
        load_movielens("100k", data_home=tmp_path, download="no")  # type: ignore[arg-type]


def test_no_local_copy_without_download_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_movielens("1m", data_home=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "ml-1m" / "ratings.dat") in message
    assert "download=True" in message and "data_home" in message
    assert "ml-1m.zip" in message
    assert not _files(tmp_path)


def test_bad_sha256_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sha256 must be a 64-character"):
        fetch_movielens("100k", data_home=tmp_path, sha256="abc")


# ------------------------------------------------------------------------------------------
# Local copies: layouts, formats, gzip
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["grouplens", "direct"])
@pytest.mark.parametrize("gz", [False, True])
def test_local_100k_layouts(tmp_path: Path, layout: str, gz: bool) -> None:
    folder = tmp_path / "ml-100k" if layout == "grouplens" else tmp_path
    folder.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    opener = gzip.compress if gz else bytes
    (folder / f"u.data{suffix}").write_bytes(opener(U_DATA))
    (folder / f"u.item{suffix}").write_bytes(opener(U_ITEM))
    ratings = load_movielens("100k", data_home=tmp_path, download=False)
    pd.testing.assert_frame_equal(ratings, EXPECTED_100K)
    movies = load_movies("100k", data_home=tmp_path, download=False)
    assert movies.to_dict("list") == {
        "item": [242, 302],
        "title": ["Kolya (1996)", "L.A. Confidential (1997)"],
        "genres": ["Comedy", "Crime|Film-Noir|Mystery|Thriller"],
    }


def test_local_1m_dat_files(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_bytes(b"1::1193::5::978300760\n1::661::3::978302109\n")
    (folder / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "73::Misérables, Les (1995)::Drama|Musical\n"
        "12::Dracula: Dead and Loving It (1995)::Comedy|Horror\n".encode("latin-1")
    )
    ratings = load_movielens("1m", data_home=tmp_path, download=False)
    assert ratings.to_dict("list") == {
        "user": [1, 1],
        "item": [1193, 661],
        "rating": [5.0, 3.0],
        "timestamp": [978300760, 978302109],
    }
    assert ratings.dtypes.astype(str).to_dict() == RATING_DTYPES
    movies = load_movies("1m", data_home=tmp_path, download=False)
    assert movies["title"].tolist() == [
        "Toy Story (1995)",
        "Misérables, Les (1995)",
        "Dracula: Dead and Loving It (1995)",
    ]
    assert movies["genres"].tolist()[2] == "Comedy|Horror"
    assert movies["item"].dtype == np.int64


def test_local_10m_uses_grouplens_folder_name_and_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "ml-10M100K"
    folder.mkdir()
    (folder / "ratings.dat.gz").write_bytes(gzip.compress(b"1::122::5::838985046\n7::1::3.5::9\n"))
    (folder / "movies.dat").write_bytes("1::Amélie (2001)::Comedy|Romance\n".encode())
    ratings = load_movielens("10m", data_home=tmp_path, download=False)
    assert ratings["rating"].tolist() == [5.0, 3.5]
    assert load_movies("10m", data_home=tmp_path, download=False)["title"].tolist() == [
        "Amélie (2001)"
    ]


@pytest.mark.parametrize("variant", ["20m", "25m", "32m"])
def test_local_csv_releases(tmp_path: Path, variant: str) -> None:
    folder = tmp_path / f"ml-{variant}"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n2,1,0.5,10\n"
    )
    (folder / "movies.csv.gz").write_bytes(
        gzip.compress(
            b'movieId,title,genres\n1,"Toy Story (1995)",Animation\n2,"NaN, The (2000)",'
            b"(no genres listed)\n"
        )
    )
    ratings = load_movielens(variant, data_home=tmp_path, download=False)
    assert ratings.to_dict("list") == {
        "user": [1, 2],
        "item": [296, 1],
        "rating": [5.0, 0.5],
        "timestamp": [1147880044, 10],
    }
    movies = load_movies(variant, data_home=tmp_path, download=False)
    assert movies["title"].tolist() == ["Toy Story (1995)", "NaN, The (2000)"]
    assert movies["genres"].tolist() == ["Animation", "(no genres listed)"]


def test_malformed_movies_dat(tmp_path: Path) -> None:
    (tmp_path / "movies.dat").write_text("1::no genres here\n")
    (tmp_path / "ratings.dat").write_text("1::1::5::1\n")
    with pytest.raises(ValueError, match="line 1"):
        load_movies("1m", data_home=tmp_path, download=False)


# ------------------------------------------------------------------------------------------
# Download path, end to end against 127.0.0.1
# ------------------------------------------------------------------------------------------


def test_download_verify_unpack_then_reuse(mirror: Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ratings = load_movielens("100k", data_home=cache)
    pd.testing.assert_frame_equal(ratings, EXPECTED_100K)
    assert mirror.requests == ["/movielens/ml-100k.zip"]
    # unpacked once, in the GroupLens layout, README kept; no archive or temporary file left
    assert [p.relative_to(cache).as_posix() for p in _files(cache)] == [
        "ml-100k/README",
        "ml-100k/u.data",
        "ml-100k/u.item",
    ]
    # later calls read the unpacked files: no new request
    pd.testing.assert_frame_equal(load_movielens("100k", data_home=cache), EXPECTED_100K)
    assert load_movies("100k", data_home=cache)["item"].tolist() == [242, 302]
    assert fetch_movielens("100k", data_home=cache) == cache / "ml-100k"
    assert len(mirror.requests) == 1


def test_fetch_movielens_keywords(server: Server, tmp_path: Path) -> None:
    folder = fetch_movielens(
        "100k", data_home=tmp_path, base_url=server.base_url + "/", sha256=FAKE_100K_SHA.upper()
    )
    assert folder == tmp_path / "ml-100k"
    assert (folder / "u.data").read_bytes() == U_DATA
    assert server.requests == ["/movielens/ml-100k.zip"]


def test_checksum_mismatch_refuses_and_leaves_nothing(
    mirror: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(datasets.CHECKSUMS, "100k", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError) as info:
        load_movielens("100k", data_home=cache)
    message = str(info.value)
    assert FAKE_100K_SHA in message and "0" * 64 in message
    assert f"{mirror.base_url}/ml-100k.zip" in message
    assert "deleted" in message
    assert _files(cache) == []
    assert isinstance(info.value, DownloadError) and isinstance(info.value, OSError)


def test_checksum_mismatch_in_existing_cache_folder_keeps_it_clean(
    mirror: Server, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "notes.txt").write_text("mine")
    with pytest.raises(ChecksumMismatchError):
        fetch_movielens("100k", data_home=cache, sha256="f" * 64)
    assert _files(cache) == [cache / "notes.txt"]


def test_http_404_is_a_clear_error(mirror: Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        load_movielens("1m", data_home=cache)
    message = str(info.value)
    assert f"{mirror.base_url}/ml-1m.zip" in message
    assert "404" in message and "data_home" in message
    assert mirror.requests == ["/movielens/ml-1m.zip"]
    assert _files(cache) == []


def test_network_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ml"
    monkeypatch.setenv(datasets.BASE_URL_ENV, url)
    with pytest.raises(DownloadError, match=rf"{url}/ml-100k\.zip.*data_home"):
        load_movielens("100k", data_home=tmp_path / "cache")
    assert _files(tmp_path / "cache") == []


def test_env_data_home_is_respected(
    mirror: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(datasets.DATA_HOME_ENV, str(tmp_path / "from-env"))
    pd.testing.assert_frame_equal(load_movielens("100k"), EXPECTED_100K)
    assert (tmp_path / "from-env" / "ml-100k" / "u.data").is_file()
    load_movielens("100k")
    assert len(mirror.requests) == 1


def test_manual_zip_in_data_home_is_used_without_network(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(datasets.BASE_URL_ENV, server.base_url)
    monkeypatch.setitem(datasets.CHECKSUMS, "100k", FAKE_100K_SHA)
    (tmp_path / "ml-100k.zip").write_bytes(FAKE_100K_ZIP)
    pd.testing.assert_frame_equal(load_movielens("100k", data_home=tmp_path), EXPECTED_100K)
    assert server.requests == []
    assert (tmp_path / "ml-100k.zip").is_file()  # the user's archive is left alone
    monkeypatch.setitem(datasets.CHECKSUMS, "1m", "0" * 64)
    (tmp_path / "ml-1m.zip").write_bytes(b"not the real archive")
    with pytest.raises(ChecksumMismatchError, match="Delete it"):
        load_movielens("1m", data_home=tmp_path)
    assert (tmp_path / "ml-1m.zip").is_file()
    assert server.requests == []


def test_unknown_checksum_warns_and_loads(
    mirror: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(datasets.CHECKSUMS, "100k")
    with pytest.warns(UnverifiedDownloadWarning, match="without verification"):
        ratings = load_movielens("100k", data_home=tmp_path)
    pd.testing.assert_frame_equal(ratings, EXPECTED_100K)


def test_missing_file_is_added_to_an_existing_folder(mirror: Server, tmp_path: Path) -> None:
    # A local copy with ratings but no u.item: load_movies downloads and adds only what lacks.
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_bytes(b"1\t2\t3\t4\n")
    movies = load_movies("100k", data_home=tmp_path)
    assert movies["item"].tolist() == [242, 302]
    assert (folder / "u.data").read_bytes() == b"1\t2\t3\t4\n"  # kept, not overwritten
    assert len(mirror.requests) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k"]


def test_archive_without_ratings_is_refused(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _zip({"ml-100k/README": b"nothing here"})
    server.files["/movielens/ml-100k.zip"] = body
    with pytest.raises(DownloadError, match=r"holds no u\.data"):
        fetch_movielens(
            "100k",
            data_home=tmp_path,
            base_url=server.base_url,
            sha256=hashlib.sha256(body).hexdigest(),
        )
    assert _files(tmp_path) == []


def test_zip_members_outside_the_folder_are_refused(server: Server, tmp_path: Path) -> None:
    body = _zip({"ml-100k/u.data": U_DATA, "../evil.txt": b"x"})
    server.files["/movielens/ml-100k.zip"] = body
    home = tmp_path / "cache"
    with pytest.raises(DownloadError, match="outside"):
        fetch_movielens(
            "100k",
            data_home=home,
            base_url=server.base_url,
            sha256=hashlib.sha256(body).hexdigest(),
        )
    assert not (tmp_path / "evil.txt").exists()
    assert _files(home) == []


def test_datasets_does_not_import_torch() -> None:
    code = "import implicit_ncf.datasets, sys; print('torch' in sys.modules)"
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------
# Real data in ../shared/data (skipped when absent)
# ------------------------------------------------------------------------------------------

needs_ml100k = pytest.mark.skipif(
    not (ML100K / "u.data.gz").is_file(), reason="../shared/data/ml-100k not available"
)
needs_ncf = pytest.mark.skipif(
    not (NCF_ML1M / "ml-1m.test.negative.gz").is_file(),
    reason="../shared/data/ncf-ml-1m not available",
)


@needs_ml100k
@pytest.mark.parametrize("home", [SHARED_DATA, ML100K], ids=["grouplens-layout", "direct"])
def test_real_ml100k_from_data_home(home: Path) -> None:
    ratings = load_movielens("100k", data_home=home, download=False)
    assert ratings.shape == (100000, 4)
    assert ratings["user"].nunique() == 943
    assert ratings["item"].nunique() == 1682
    assert ratings.dtypes.astype(str).to_dict() == RATING_DTYPES
    assert ratings.iloc[0].tolist() == [196, 242, 3.0, 881250949]


@needs_ml100k
def test_real_ml100k_movies() -> None:
    movies = load_movies("100k", data_home=SHARED_DATA, download=False)
    assert movies.shape == (1682, 3)
    assert movies.iloc[0].tolist() == [1, "Toy Story (1995)", "Animation|Children's|Comedy"]
    assert "Misérables, Les (1995)" in set(movies["title"])  # latin-1 decoded


@needs_ncf
def test_real_ncf_ml1m_split() -> None:
    train, test, candidates = load_ncf_ml1m(NCF_ML1M)
    assert train.shape == (994169, 2) and list(train.columns) == ["user", "item"]
    assert test.shape == (6040, 4)
    assert list(test.columns) == ["user", "item", "rating", "timestamp"]
    assert list(candidates.columns) == ["user", "item", "is_target"]
    assert candidates["is_target"].dtype == bool
    assert len(candidates) == 6040 * 100 - 156

    sizes = candidates.groupby("user", sort=False).size()
    assert sizes.index.tolist() == test["user"].tolist()
    assert set(sizes) == {99, 100} and int((sizes == 99).sum()) == 156
    assert not candidates.duplicated(["user", "item"]).any()
    # each user's block starts with its test item, the only target
    first = candidates.groupby("user", sort=False).head(1)
    assert first["is_target"].all() and first["item"].tolist() == test["item"].tolist()
    assert int(candidates["is_target"].sum()) == 6040
    # no candidate negative is a training item of that user, and test pairs are not in train
    negatives = candidates.loc[~candidates["is_target"], ["user", "item"]]
    assert negatives.merge(train, on=["user", "item"]).empty
    assert test[["user", "item"]].merge(train, on=["user", "item"]).empty


def _write_ncf(folder: Path, *, gz: bool, original_train: bool) -> None:
    def write(name: str, text: str) -> None:
        data = text.encode()
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)

    if original_train:
        write("ml-1m.train.rating", "0\t1\t5\t978300760\n0\t2\t3\t978300700\n1\t0\t4\t978300000\n")
    else:
        write("ml-1m.train.pairs", "0\t1\n0\t2\n1\t0\n")
    write("ml-1m.test.rating", "0\t3\t4\t978301000\n1\t4\t2\t978302000\n")
    # user 1's negatives contain its own test item 4: the NCF quirk
    write("ml-1m.test.negative", "(0,3)\t5\t6\t7\n(1,4)\t6\t4\t3\n")


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("original_train", [False, True])
def test_ncf_loader_formats_and_duplicate_drop(
    tmp_path: Path, gz: bool, original_train: bool
) -> None:
    _write_ncf(tmp_path, gz=gz, original_train=original_train)
    data = load_ncf_ml1m(str(tmp_path))
    assert data.train.to_dict("list") == {"user": [0, 0, 1], "item": [1, 2, 0]}
    assert data.test.to_dict("list") == {
        "user": [0, 1],
        "item": [3, 4],
        "rating": [4.0, 2.0],
        "timestamp": [978301000, 978302000],
    }
    assert data.candidates.to_dict("list") == {
        "user": [0, 0, 0, 0, 1, 1, 1],
        "item": [3, 5, 6, 7, 4, 6, 3],
        "is_target": [True, False, False, False, True, False, False],
    }
    train, test, candidates = data  # a plain 3-tuple too
    assert train is data.train and test is data.test and candidates is data.candidates
    assert isinstance(data, tuple) and len(data) == 3


def test_ncf_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_ncf_ml1m(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"ml-1m\.train\.rating\[\.gz\]"):
        load_ncf_ml1m(tmp_path)
    _write_ncf(tmp_path, gz=False, original_train=False)
    (tmp_path / "ml-1m.test.negative").write_text("(0,3)\t5\t6\t7\n(1,9)\t6\t4\t3\n")
    with pytest.raises(ValueError, match="does not line up"):
        load_ncf_ml1m(tmp_path)
    (tmp_path / "ml-1m.test.negative").write_text("0,3\t5\t6\t7\n(1,4)\t6\t4\t3\n")
    with pytest.raises(ValueError, match=r"'\(user,item\)'"):
        load_ncf_ml1m(tmp_path)

"""Checksummed downloads against a local HTTP server on 127.0.0.1 (tests never go online)."""

import dataclasses
import gzip
import hashlib
import http.server
import struct
import threading

import numpy as np
import pytest

from ganlab.cli import main
from ganlab.data import datasets, load_mnist
from ganlab.data import download as dl
from ganlab.errors import DataError

BODY = bytes(range(256)) * 1000  # 256 kB: several CHUNKs, so streaming is exercised
BODY_SHA = hashlib.sha256(BODY).hexdigest()


class Server:
    """A local HTTP server whose answers per path are scripted: each request to a path takes
    the next action of its list (the last one repeats). Actions: ("ok", body), ("status", code),
    ("truncated", body, claimed_length), ("drop",) closes the connection without answering."""

    def __init__(self):
        self.routes: dict[str, list[tuple]] = {}
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                n = outer.hits.get(self.path, 0)
                outer.hits[self.path] = n + 1
                actions = outer.routes.get(self.path, [("status", 404)])
                action = actions[min(n, len(actions) - 1)]
                if action[0] == "drop":
                    self.close_connection = True
                    return
                if action[0] == "status":
                    self.send_error(action[1])
                    return
                body = action[1]
                claimed = action[2] if action[0] == "truncated" else len(body)
                self.send_response(200)
                self.send_header("Content-Length", str(claimed))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def sleeps(monkeypatch):
    """Record backoff sleeps instead of sleeping."""
    calls = []
    monkeypatch.setattr(dl.time, "sleep", calls.append)
    return calls


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """A private cache, no $GANLAB_DATA, and no public mirror reachable from any test here."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GANLAB_DATA", raising=False)
    for name, ds in datasets.DATASETS.items():
        monkeypatch.setitem(
            datasets.DATASETS, name, dataclasses.replace(ds, mirrors=(), debian=None)
        )


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_writes_the_checked_file_and_nothing_else(server, tmp_path, sleeps):
    server.routes["/f.bin"] = [("ok", BODY)]
    dest = tmp_path / "out" / "f.bin"
    assert dl.download([server.url + "/f.bin"], dest, BODY_SHA, progress=True) == dest
    assert dest.read_bytes() == BODY
    assert leftovers(dest.parent) == ["f.bin"]  # no temporary file left behind
    assert sleeps == []


def test_404_moves_to_the_next_mirror(server, tmp_path, sleeps):
    server.routes["/b/f.bin"] = [("ok", BODY)]
    dest = tmp_path / "f.bin"
    dl.download([server.url + "/a/f.bin", server.url + "/b/f.bin"], dest, BODY_SHA)
    assert dest.read_bytes() == BODY
    # A 404 is not retried on the same mirror: one request each, no backoff.
    assert server.hits == {"/a/f.bin": 1, "/b/f.bin": 1} and sleeps == []


def test_404_everywhere_is_one_line_error(server, tmp_path, sleeps):
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError) as e:
        dl.download([server.url + "/missing.bin"], dest, BODY_SHA)
    msg = str(e.value)
    assert "\n" not in msg
    assert "could not download f.bin" in msg and "HTTP 404" in msg
    assert f"put the file in {tmp_path}" in msg
    assert leftovers(tmp_path) == []


def test_truncated_body_is_retried_then_reported(server, tmp_path, sleeps):
    server.routes["/f.bin"] = [("truncated", BODY[:1000], len(BODY))]
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError) as e:
        dl.download([server.url + "/f.bin"], dest, BODY_SHA, retries=3, backoff=0.5)
    assert f"connection closed after 1000 of {len(BODY)} bytes (tried 3 times)" in str(e.value)
    assert server.hits["/f.bin"] == 3
    assert sleeps == [0.5, 1.0]  # backoff * 2**attempt between the tries
    assert leftovers(tmp_path) == []  # the partial file is gone


def test_checksum_mismatch_deletes_the_download(server, tmp_path, sleeps):
    server.routes["/f.bin"] = [("ok", BODY[::-1])]
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError) as e:
        dl.download([server.url + "/f.bin"], dest, BODY_SHA)
    msg = str(e.value)
    got = hashlib.sha256(BODY[::-1]).hexdigest()
    assert f"SHA-256 mismatch (got {got}, expected {BODY_SHA}); deleted the downloaded file" in msg
    assert server.hits["/f.bin"] == 1  # a wrong file is not fetched again from the same mirror
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("first", [("drop",), ("status", 503)])
def test_interrupted_then_retried(server, tmp_path, sleeps, first):
    server.routes["/f.bin"] = [first, ("ok", BODY)]
    dest = tmp_path / "f.bin"
    dl.download([server.url + "/f.bin"], dest, BODY_SHA, retries=3, backoff=0.25)
    assert dest.read_bytes() == BODY
    assert server.hits["/f.bin"] == 2 and sleeps == [0.25]


def test_refused_connection_is_reported(tmp_path, sleeps):
    s = Server()
    url = s.url
    s.close()  # nothing listens on the port any more
    with pytest.raises(DataError, match="could not download f.bin: .*tried 2 times"):
        dl.download([url + "/f.bin"], tmp_path / "f.bin", BODY_SHA, retries=2, backoff=0)


def test_no_mirrors_says_where_to_put_the_file(tmp_path):
    with pytest.raises(DataError, match="no download address for f.bin; put the file in"):
        dl.download([], tmp_path / "f.bin", BODY_SHA)


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dl.cache_dir() == tmp_path / "ganlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dl.cache_dir() == tmp_path / "home" / ".cache" / "ganlab"


# ---------------------------------------------------------------------------------------------
# fetch, `ganlab data fetch`, and load_mnist falling through to a download


def idx_gz(arr: np.ndarray) -> bytes:
    """A gzip'd IDX file of uint8 data (the format's 4-line spec: 0 0 type ndim, sizes, data)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes(), compresslevel=1)


def fake_mnist_files(n_train=60_000, n_test=10_000) -> dict[str, bytes]:
    """MNIST-shaped IDX files of the official sizes: pixel = flat index mod 251 (a prime, so
    images differ), label = index mod 10."""
    train = (np.arange(n_train * 784) % 251).astype(np.uint8).reshape(n_train, 28, 28)
    test = (np.arange(n_test * 784) % 251).astype(np.uint8).reshape(n_test, 28, 28)[::-1]
    return {
        "train-images-idx3-ubyte.gz": idx_gz(train),
        "train-labels-idx1-ubyte.gz": idx_gz(np.arange(n_train) % 10),
        "t10k-images-idx3-ubyte.gz": idx_gz(test),
        "t10k-labels-idx1-ubyte.gz": idx_gz(np.arange(n_test) % 10),
    }


def serve_mnist(server, monkeypatch, files, trust=True):
    """Serve files under /mnist/; with trust, make their digests the published ones."""
    for name, body in files.items():
        server.routes[f"/mnist/{name}"] = [("ok", body)]
    ds = datasets.DATASETS["mnist"]
    digests = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    monkeypatch.setitem(
        datasets.DATASETS,
        "mnist",
        dataclasses.replace(
            ds, mirrors=(server.url + "/mnist",), sha256=digests if trust else ds.sha256
        ),
    )


@pytest.fixture(scope="module")
def mnist_files():
    return fake_mnist_files()


def test_load_mnist_downloads_into_the_cache_then_reads_it(server, monkeypatch, mnist_files):
    serve_mnist(server, monkeypatch, mnist_files)
    x, y = load_mnist("valid")
    assert x.shape == (10_000, 1, 28, 28) and y.shape == (10_000,)
    # valid = training images 50,000..59,999, so its labels are (50_000 + i) mod 10.
    assert y[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    cached = dl.cache_dir() / "mnist"
    assert leftovers(cached) == sorted(mnist_files)
    hits = dict(server.hits)
    x2, _ = load_mnist("valid")  # from the cache now: no new request
    assert server.hits == hits
    assert x2.equal(x)
    info = datasets.describe("mnist")
    assert info.source == "cache" and info.format == "idx"
    assert all(check == "matches the published SHA-256" for *_, check in info.files)


def test_cached_file_that_fails_its_checksum_is_refused(server, monkeypatch, mnist_files):
    serve_mnist(server, monkeypatch, mnist_files)
    datasets.fetch("mnist", progress=False)
    damaged = dl.cache_dir() / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(damaged.read_bytes())
    data[-5] ^= 0xFF  # a flipped byte in the gzip trailer's CRC
    damaged.write_bytes(bytes(data))
    with pytest.raises(DataError) as e:
        load_mnist("test")
    assert str(e.value) == (
        f"cached file {damaged} fails its SHA-256 check (damaged or replaced); run "
        "`ganlab data fetch mnist` to download it again"
    )
    datasets.fetch("mnist", progress=False)  # fetch replaces exactly the damaged file
    assert load_mnist("test")[1].shape == (10_000,)


def test_cli_fetch_then_info(server, monkeypatch, mnist_files, capsys):
    serve_mnist(server, monkeypatch, mnist_files)
    assert main(["data", "fetch", "mnist", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"mnist: 4 files, SHA-256 checked, in {dl.cache_dir() / 'mnist'}" in out
    assert main(["data", "info", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "source: cache (idx)" in out
    assert "examples: train 50000, valid 10000, test 10000" in out
    digest = hashlib.sha256(mnist_files["t10k-images-idx3-ubyte.gz"]).hexdigest()
    assert f"sha256 {digest}  (matches the published SHA-256)" in out


def test_cli_fetch_with_the_real_checksums_refuses_other_files(server, monkeypatch, capsys):
    files = {n: b"not mnist" for n in datasets.DATASETS["mnist"].files.values()}
    serve_mnist(server, monkeypatch, files, trust=False)
    assert main(["data", "fetch", "mnist", "--quiet", "--mirror", server.url + "/mnist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab: error: could not download train-images-idx3-ubyte.gz: ")
    assert "expected 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in err
    assert "deleted the downloaded file" in err and err.count("\n") == 1
    assert leftovers(dl.cache_dir() / "mnist") == []


def test_cli_fetch_of_a_bundled_or_unknown_set(capsys):
    assert main(["data", "fetch", "digits"]) == 2
    err = capsys.readouterr().err
    assert "digits ships with scikit-learn: nothing to download" in err
    assert main(["data", "fetch", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert "nothing to fetch for 'cifar10'; downloadable data sets: mnist, fashion_mnist" in err

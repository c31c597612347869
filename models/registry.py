"""Where models live, how they are fetched, and how a missing one is reported.

Models install under ``$ENCUESTADOR_HOME/models/<name>/`` (default ``~/.local/share/encuestador``).
A model counts as installed only when every file of its manifest entry is there with the pinned
size: a Piper ``.onnx.json`` without its ``.onnx`` is not a voice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).with_name("manifest.yaml")


class MissingModelError(RuntimeError):
    """A model the configuration needs is not installed."""

    def __init__(self, name: str, directory: Path) -> None:
        super().__init__(f"model '{name}' is not installed in {directory}; "
                         f"run: encuestador models fetch {name}  (add --mirror DIR on a machine without internet)")
        self.name = name


@dataclass(frozen=True)
class FileSpec:
    path: str
    size: int | None
    sha256: str | None
    url: str | None = None  # where this file is downloaded from, when not ``source`` + ``path``


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    description: str
    license: str
    required: bool
    files: tuple[FileSpec, ...]
    source: str | None = None
    archive: str | None = None
    archive_root: str = ""
    mirror_dirs: tuple[str, ...] = field(default_factory=tuple)


def load_manifest(path: Path = MANIFEST) -> tuple[dict[str, ModelSpec], dict[str, list[str]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = {}
    for name, m in data["models"].items():
        files = tuple(FileSpec(p, f.get("size"), f.get("sha256"), f.get("url")) for p, f in m["files"].items())
        specs[name] = ModelSpec(name, m["kind"], m.get("description", ""), m.get("license", ""),
                                bool(m.get("required", False)), files, m.get("source"), m.get("archive"),
                                m.get("archive_root", ""), tuple(m.get("mirror_dirs", [])))
    return specs, dict(data.get("preferred", {}))


def models_home() -> Path:
    base = os.environ.get("ENCUESTADOR_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "encuestador")
    return Path(base) / "models"


def installed(name: str, home: Path | None = None) -> Path | None:
    """The directory of the manifest's model ``name`` when it is installed, else None."""
    specs, _ = load_manifest()
    return installed_path(specs[name], home) if name in specs else None


def installed_path(spec: ModelSpec, home: Path | None = None) -> Path | None:
    """The model's directory if every file is present with its pinned size, else None."""
    directory = (home or models_home()) / spec.name
    for f in spec.files:
        p = directory / f.path
        if not p.is_file() or (f.size is not None and p.stat().st_size != f.size):
            return None
    return directory


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class VerificationError(RuntimeError):
    pass


def _verify(path: Path, spec: FileSpec) -> None:
    if spec.size is not None and path.stat().st_size != spec.size:
        raise VerificationError(f"{spec.path}: size {path.stat().st_size} != pinned {spec.size}")
    if spec.sha256 is not None:
        digest = sha256_of(path)
        if digest != spec.sha256:
            raise VerificationError(f"{spec.path}: sha256 {digest} != pinned {spec.sha256}")


def _install(tmp: Path, target: Path, spec: FileSpec) -> None:
    try:
        _verify(tmp, spec)
    except VerificationError:
        tmp.unlink(missing_ok=True)
        raise
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to a temporary file beside ``dest``; returns its path."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        shutil.copyfileobj(response, out, 1 << 20)
    return Path(tmp)


@dataclass
class FetchReport:
    name: str
    installed: list[str] = field(default_factory=list)   # files newly installed
    present: list[str] = field(default_factory=list)     # already there and valid
    missing: list[str] = field(default_factory=list)     # could not be had
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.errors


def fetch_model(spec: ModelSpec, home: Path | None = None, mirror: Path | None = None) -> FetchReport:
    """Install ``spec`` from ``mirror`` (offline: never touches the network) or its official source."""
    directory = (home or models_home()) / spec.name
    report = FetchReport(spec.name)
    todo = []
    for f in spec.files:
        target = directory / f.path
        if target.is_file() and (f.size is None or target.stat().st_size == f.size):
            report.present.append(f.path)
        else:
            todo.append(f)
    if not todo:
        return report
    if mirror is not None:
        for f in todo:
            candidates = [mirror / spec.name / f.path] + [mirror / d / f.path for d in spec.mirror_dirs]
            source = next((c for c in candidates if c.is_file()), None)
            if source is None:
                report.missing.append(f.path)
                continue
            target = directory / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
            os.close(fd)
            shutil.copyfile(source, tmp)
            try:
                _install(Path(tmp), target, f)
                report.installed.append(f.path)
            except VerificationError as e:
                report.errors.append(str(e))
        return report
    try:
        if spec.archive:
            _fetch_archive(spec, directory, todo, report)
        else:
            for f in todo:
                tmp = download(f.url or spec.source.rstrip("/") + "/" + f.path, directory / f.path)
                _install(tmp, directory / f.path, f)
                report.installed.append(f.path)
    except VerificationError as e:
        report.errors.append(str(e))
    except OSError as e:  # URLError is an OSError: no network, DNS, refused, HTTP error
        report.errors.append(f"download failed: {e}")
    report.missing = [f.path for f in todo if f.path not in report.installed]
    return report


def _fetch_archive(spec: ModelSpec, directory: Path, todo: list[FileSpec], report: FetchReport) -> None:
    archive = download(spec.archive, directory / ".archive.zip")
    try:
        with zipfile.ZipFile(archive) as z:
            for f in todo:
                member = spec.archive_root + f.path
                target = directory / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
                with os.fdopen(fd, "wb") as out, z.open(member) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                _install(Path(tmp), target, f)
                report.installed.append(f.path)
    finally:
        archive.unlink(missing_ok=True)


def resolve(kind_order: list[str], specs: dict[str, ModelSpec], home: Path | None = None) -> tuple[ModelSpec, Path] | None:
    """The first installed model of a preference list."""
    for name in kind_order:
        spec = specs.get(name)
        path = installed_path(spec, home) if spec else None
        if path is not None:
            return spec, path
    return None


def describe(spec: ModelSpec, home: Path | None = None) -> dict[str, Any]:
    path = installed_path(spec, home)
    return {"name": spec.name, "kind": spec.kind, "required": spec.required, "installed": path is not None,
            "path": str(path) if path else None, "license": spec.license,
            "bytes": sum(f.size or 0 for f in spec.files)}

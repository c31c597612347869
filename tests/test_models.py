"""Model manifest and fetcher: mirror copies, downloads over HTTP (a local server), sha256 checks."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from functools import partial

import pytest

from encuestador.models.registry import (FileSpec, MissingModelError, ModelSpec, fetch_model, installed_path,
                                         load_manifest)


def spec_for(files: dict[str, bytes], **kw) -> ModelSpec:
    pins = tuple(FileSpec(p, len(b), hashlib.sha256(b).hexdigest()) for p, b in files.items())
    return ModelSpec(name=kw.pop("name", "tiny-model"), kind="whisper", description="", license="MIT",
                     required=True, files=pins, **kw)


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_manifest_pins_every_file():
    specs, preferred = load_manifest()
    assert {"faster-whisper-base", "vosk-model-small-es-0.42", "piper-es_MX-claude-high"} <= set(specs)
    for spec in specs.values():
        assert spec.license and (spec.source or spec.archive)
        assert all(f.size and f.sha256 and len(f.sha256) == 64 for f in spec.files)
    assert preferred["asr_closed"][0] == "vosk-model-small-es-0.42"


def test_fetch_from_mirror_verifies_and_is_idempotent(tmp_path):
    files = {"model.bin": b"weights" * 100, "config.json": b"{}"}
    mirror = tmp_path / "mirror" / "tiny-model"
    mirror.mkdir(parents=True)
    for name, data in files.items():
        (mirror / name).write_bytes(data)
    spec = spec_for(files)
    home = tmp_path / "home"
    report = fetch_model(spec, home, tmp_path / "mirror")
    assert report.complete and sorted(report.installed) == ["config.json", "model.bin"]
    assert installed_path(spec, home) == home / "tiny-model"
    again = fetch_model(spec, home, tmp_path / "mirror")
    assert again.complete and again.installed == [] and len(again.present) == 2


def test_partial_mirror_is_not_an_installed_model(tmp_path):
    """Like the Piper voices here: the .onnx.json is mirrored, the .onnx is not."""
    files = {"voice.onnx": b"x" * 50, "voice.onnx.json": b"{}"}
    (tmp_path / "mirror" / "configs").mkdir(parents=True)
    (tmp_path / "mirror" / "configs" / "voice.onnx.json").write_bytes(b"{}")
    spec = spec_for(files, mirror_dirs=("configs",))
    report = fetch_model(spec, tmp_path / "home", tmp_path / "mirror")
    assert report.missing == ["voice.onnx"] and not report.complete
    assert installed_path(spec, tmp_path / "home") is None


def test_corrupt_mirror_file_is_rejected(tmp_path):
    spec = spec_for({"model.bin": b"good bytes"})
    (tmp_path / "mirror" / "tiny-model").mkdir(parents=True)
    (tmp_path / "mirror" / "tiny-model" / "model.bin").write_bytes(b"evil bytes")  # same size, other hash
    report = fetch_model(spec, tmp_path / "home", tmp_path / "mirror")
    assert report.errors and "sha256" in report.errors[0]
    assert not (tmp_path / "home" / "tiny-model" / "model.bin").exists()


def test_download_over_http_checks_sha256(tmp_path, http_root):
    root, url = http_root
    (root / "model.bin").write_bytes(b"weights")
    spec = spec_for({"model.bin": b"weights"}, source=url)
    assert fetch_model(spec, tmp_path / "home").complete
    bad = spec_for({"model.bin": b"WEIGHTS"}, name="other", source=url)
    report = fetch_model(bad, tmp_path / "home")
    assert not report.complete and "sha256" in report.errors[0]


def test_download_archive_extracts_pinned_files(tmp_path, http_root):
    root, url = http_root
    files = {"am/final.mdl": b"acoustic", "conf/model.conf": b"--x"}
    with zipfile.ZipFile(root / "m.zip", "w") as z:
        for name, data in files.items():
            z.writestr("vosk-x/" + name, data)
    spec = spec_for(files, archive=url + "m.zip", archive_root="vosk-x/")
    report = fetch_model(spec, tmp_path / "home")
    assert report.complete and (tmp_path / "home" / "tiny-model" / "am" / "final.mdl").read_bytes() == b"acoustic"


def test_unreachable_source_is_reported_not_raised(tmp_path):
    spec = spec_for({"model.bin": b"w"}, source="http://127.0.0.1:9/")  # discard port: refused
    report = fetch_model(spec, tmp_path / "home")
    assert not report.complete and "download failed" in report.errors[0]


def test_missing_model_message_names_model_and_command(tmp_path):
    message = str(MissingModelError("vosk-model-small-es-0.42", tmp_path))
    assert "vosk-model-small-es-0.42" in message and "encuestador models fetch vosk-model-small-es-0.42" in message

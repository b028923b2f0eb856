"""A PEP 517 build backend for the epochfs package, written with the standard library only.

Why not setuptools: `pip install ./python` builds in an isolated environment and first
installs the backend's requirements there, from PyPI. On a machine without access to PyPI
(the usual case for a training node, and our CI) that fails even though Debian's setuptools is
installed. This backend needs nothing (`requires = []` in pyproject.toml), so pip 23 (Debian
12) installs the package offline, with or without a venv.

It builds:
- a wheel: epochfs/*.py (+ py.typed) and a .dist-info (METADATA, WHEEL, RECORD);
- an editable wheel (`pip install -e ./python`, PEP 660): a .pth naming this source tree;
- an sdist: pyproject.toml, README.md, the backend and the package, with PKG-INFO.

Archives are reproducible: fixed timestamps ($SOURCE_DATE_EPOCH, else 1980-01-01), sorted
entries, fixed modes. The version is `__version__` in epochfs/__init__.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

NAME = "epochfs"
SUMMARY = ("Client for epochfs mounts: publish a training job's read order as a plan, read "
           "the daemon's stats, and a PyTorch sampler that does both")
REQUIRES_PYTHON = ">=3.8"
TAG = "py3-none-any"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the python/ directory
PACKAGE_DIR = os.path.join(ROOT, NAME)
# Files of the sdist besides the package itself, relative to ROOT.
SDIST_EXTRA = ("pyproject.toml", "README.md", "_backend/epochfs_build_backend.py")


def _version() -> str:
    with open(os.path.join(PACKAGE_DIR, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if not m:
        raise RuntimeError(f"{PACKAGE_DIR}/__init__.py: no __version__ = \"...\" line")
    return m.group(1)


def _dist_info() -> str:
    return f"{NAME}-{_version()}.dist-info"


def _epoch() -> int:
    # 1980-01-01: the earliest time a zip entry can carry.
    return max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)


def _timestamp() -> tuple:
    return time.gmtime(_epoch())[:6]


def _metadata() -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {NAME}",
        f"Version: {_version()}",
        f"Summary: {SUMMARY}",
        f"Requires-Python: {REQUIRES_PYTHON}",
    ]
    readme = os.path.join(ROOT, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8")


def _wheel_file() -> bytes:
    return (f"Wheel-Version: 1.0\nGenerator: {NAME}_build_backend\nRoot-Is-Purelib: true\n"
            f"Tag: {TAG}\n").encode("utf-8")


def _package_files() -> list:
    """(path in the archive, path on disk) of the package's files, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(PACKAGE_DIR):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith(".py") or fn == "py.typed":
                disk = os.path.join(dirpath, fn)
                out.append((os.path.relpath(disk, ROOT).replace(os.sep, "/"), disk))
    return out


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_wheel(wheel_directory: str, contents: list) -> str:
    """contents: (arcname, bytes) without the dist-info, which is added here."""
    dist_info = _dist_info()
    contents = contents + [(f"{dist_info}/METADATA", _metadata()),
                           (f"{dist_info}/WHEEL", _wheel_file())]
    record = [_record_line(name, data) for name, data in contents]
    record.append(f"{dist_info}/RECORD,,")
    contents.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode("utf-8")))

    basename = f"{NAME}-{_version()}-{TAG}.whl"
    path = os.path.join(wheel_directory, basename)
    stamp = _timestamp()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in contents:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return basename


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# PEP 517 / PEP 660 hooks ---------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info = _dist_info()
    target = os.path.join(metadata_directory, dist_info)
    os.makedirs(target, exist_ok=True)
    for name, data in (("METADATA", _metadata()), ("WHEEL", _wheel_file())):
        with open(os.path.join(target, name), "wb") as f:
            f.write(data)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory,
                        [(arc, _read(disk)) for arc, disk in _package_files()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file puts this source tree on sys.path: edits take effect without reinstalling.
    pth = (ROOT + "\n").encode("utf-8")
    return _write_wheel(wheel_directory, [(f"__editable__.{NAME}-{_version()}.pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    top = f"{NAME}-{_version()}"
    basename = f"{top}.tar.gz"
    files = [(arc, _read(os.path.join(ROOT, arc))) for arc in SDIST_EXTRA
             if os.path.exists(os.path.join(ROOT, arc))]
    files += [(arc, _read(disk)) for arc, disk in _package_files()]
    files.append(("PKG-INFO", _metadata()))
    mtime = _epoch()
    path = os.path.join(sdist_directory, basename)
    # gzip's own header carries a timestamp too: write it through a fixed-mtime GzipFile.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=mtime,
                                                filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for arc, data in sorted(files):
            info = tarfile.TarInfo(f"{top}/{arc}")
            info.size = len(data)
            info.mtime = mtime
            info.mode = 0o644
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    return basename

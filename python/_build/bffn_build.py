"""The PEP 517 build backend of the bffn Python package: standard library only, so ``pip install ./python`` and
``pip wheel ./python`` work offline (no setuptools or wheel package to download).

It builds a wheel of the ``bffn`` folder (with ``bffn/_lib/libbffnc.so`` when scripts/build-python.sh put it
there: the wheel is then tagged for this platform, ``py3-none-linux_x86_64``; else ``py3-none-any``), an sdist,
and an editable install (a .pth file pointing at this folder). The metadata is pyproject.toml's [project] table
(read with tomllib, Python 3.11+, or tomli).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bffn"


def _project() -> Dict[str, Any]:
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[import-not-found,no-redef]
        except ImportError:
            raise RuntimeError("building bffn needs Python 3.11+ (tomllib) or the tomli package") from None
    with open(ROOT / "pyproject.toml", "rb") as f:
        project: Dict[str, Any] = tomllib.load(f)["project"]
    init = (ROOT / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', init, re.M)
    if not match or match.group(1) != project["version"]:
        raise RuntimeError(f"bffn/__init__.py's __version__ ({match.group(1) if match else 'none'}) differs from "
                           f"pyproject.toml's version ({project['version']})")
    return project


def _metadata(project: Dict[str, Any]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}",
             f"Summary: {project.get('description', '')}"]
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    for c in project.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    for d in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {d}")
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for d in deps:
            lines.append(f'Requires-Dist: {d}; extra == "{extra}"')
    readme = ROOT / project.get("readme", "README.md")
    body = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + body


def _package_files() -> List[Path]:
    """The files of the package: sources, py.typed and the bundled library, no caches."""
    files = []
    for p in sorted((ROOT / PACKAGE).rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo"):
            continue
        rel = p.relative_to(ROOT / PACKAGE)
        if rel.parts[0] == "_lib" and not (p.suffix in (".so", ".dylib") or ".so." in p.name):
            continue
        files.append(p)
    return files


def _tag(files: List[Path]) -> Tuple[str, bool]:
    native = any(p.relative_to(ROOT / PACKAGE).parts[0] == "_lib" for p in files)
    if not native:
        return "py3-none-any", True
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{platform}", False


class _Wheel:
    """A wheel being written: each file's hash goes into RECORD."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.records: List[str] = []

    def add(self, name: str, data: bytes, executable: bool = False) -> None:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o755 if executable else 0o644) << 16
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self.records.append(f"{name},sha256={digest},{len(data)}")

    def close(self, dist_info: str) -> None:
        self.records.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, "\n".join(self.records) + "\n")
        self.zip.close()


def _write_wheel(wheel_directory: str, editable: bool) -> str:
    project = _project()
    name, version = project["name"], project["version"]
    files = _package_files()
    tag, pure = _tag(files) if not editable else ("py3-none-any", True)
    filename = f"{name}-{version}-{tag}.whl"
    dist_info = f"{name}-{version}.dist-info"
    wheel = _Wheel(Path(wheel_directory) / filename)
    if editable:
        wheel.add(f"_{name}_editable.pth", (str(ROOT) + "\n").encode())
    else:
        for p in files:
            rel = p.relative_to(ROOT).as_posix()
            wheel.add(rel, p.read_bytes(), executable=p.suffix in (".so", ".dylib"))
    wheel.add(f"{dist_info}/METADATA", _metadata(project).encode("utf-8"))
    wheel.add(f"{dist_info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: bffn_build\nRoot-Is-Purelib: "
                                     f"{'true' if pure else 'false'}\nTag: {tag}\n").encode())
    wheel.add(f"{dist_info}/top_level.txt", f"{PACKAGE}\n".encode())
    wheel.close(dist_info)
    return filename


# ---- PEP 517 / PEP 660 hooks --------------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, editable=False)


def build_editable(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                   metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, editable=True)


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    project = _project()
    base = f"{project['name']}-{project['version']}"
    filename = f"{base}.tar.gz"
    paths = [ROOT / "pyproject.toml", ROOT / "README.md", ROOT / "_build" / "bffn_build.py"]
    paths += [p for p in _package_files() if p.relative_to(ROOT / PACKAGE).parts[0] != "_lib"]
    paths += sorted(p for p in (ROOT / "tests").rglob("*.py") if "__pycache__" not in p.parts)
    with tarfile.open(Path(sdist_directory) / filename, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for p in paths:
            if p.is_file():
                info = tar.gettarinfo(str(p), arcname=f"{base}/{p.relative_to(ROOT).as_posix()}")
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(p, "rb") as f:
                    tar.addfile(info, f)
        pkg_info = _metadata(project).encode("utf-8")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    return filename


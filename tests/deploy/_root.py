"""A throw-away Debian root for applying the Ansible roles through the chroot connection.

The root is built once with ``debootstrap --variant=minbase`` from the mirror that the host's own apt
sources use, cached as a tarball under ``${XDG_CACHE_HOME:-~/.cache}/linli/`` (keyed by suite,
architecture and package list), and extracted afresh for every test session. Before the roles run, the
extracted root is made safe and able to reach the package indexes like the host: a ``policy-rc.d`` stops
package scripts from starting daemons on the host, and the host's resolver and locally added CA
certificates are copied in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
# What Ansible needs to manage a minbase root (python3, python3-apt for the apt module), what the roles
# expect from any real Raspberry Pi OS or Debian host (systemd), and the CA store pip needs.
INCLUDE = ("ca-certificates", "python3", "python3-apt", "systemd")
BUILD_TIMEOUT_S = 1200


class RootError(RuntimeError):
    """A Debian root could not be built or prepared; the message says which step and why."""


@dataclass(frozen=True)
class BuiltRoot:
    """Where a root was extracted and how long getting it took."""

    path: Path
    tarball: Path
    built: bool
    build_seconds: float
    extract_seconds: float


def apt_sources(etc: Path = Path("/etc/apt")) -> list[tuple[str, list[str]]]:
    """Return ``(uri, suites)`` for every ``deb`` entry of the apt sources under ``etc``.

    Reads both the one-line format (``sources.list`` and ``*.list``) and deb822 (``*.sources``).
    """
    found: list[tuple[str, list[str]]] = []
    one_line = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            words = [w for w in line.split("#", 1)[0].split() if not (w.startswith("[") or w.endswith("]"))]
            if len(words) >= 3 and words[0] == "deb":
                found.append((words[1], [words[2]]))
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    found.append((uri, fields.get("suites", "").split()))
    return found


def debian_mirror(suite: str = SUITE, etc: Path = Path("/etc/apt")) -> str | None:
    """The first http(s) mirror the host's apt sources use for ``suite`` itself, or None."""
    for uri, suites in apt_sources(etc):
        if suite in suites and uri.startswith(("http://", "https://")):
            return uri
    return None


def host_architecture() -> str:
    """Debian's name of this machine's architecture (``dpkg --print-architecture``)."""
    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/linli``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "linli"


def tarball_path(include: Iterable[str] = INCLUDE, suite: str = SUITE, arch: str | None = None) -> Path:
    """The cache file of a root with these packages: its name changes whenever the package list does."""
    arch = arch or host_architecture()
    key = "\n".join([suite, arch, "minbase", *sorted(include)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / f"debootstrap-{suite}-{arch}-{digest}.tar"


def _run(argv: list[str], what: str, timeout: float) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RootError(f"{what} failed with exit code {proc.returncode} ({' '.join(argv)}):\n{tail}")


def build_tarball(tarball: Path, mirror: str, include: Iterable[str] = INCLUDE, suite: str = SUITE) -> None:
    """Run debootstrap into a scratch directory next to ``tarball`` and pack the result into it."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    scratch = tarball.parent / f".build-{os.getpid()}"
    if scratch.exists():
        shutil.rmtree(scratch)
    root = scratch / "root"
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(sorted(include))}",
                suite,
                str(root),
                mirror,
            ],
            f"debootstrap of {suite} from {mirror}",
            BUILD_TIMEOUT_S,
        )
        # The downloaded packages are not needed in the root: keep the tarball small.
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        partial = tarball.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], "packing the root", 600)
        partial.replace(tarball)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def extract(tarball: Path, dest: Path) -> None:
    """Unpack a cached root into ``dest`` (created), keeping owners, modes and device nodes."""
    dest.mkdir(parents=True)
    _run(["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(dest)], f"extracting {tarball}", 600)


def prepare(root: Path, host_etc: Path = Path("/etc"), host_cas: Path | None = None) -> None:
    """Make an extracted root safe to install packages in, and able to reach the network like the host."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# Test root: package scripts must not start daemons on the host.\nexit 101\n")
    policy.chmod(0o755)
    resolv = host_etc / "resolv.conf"
    if resolv.is_file():
        target = root / "etc/resolv.conf"
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copyfile(resolv, target)
    cas = host_cas if host_cas is not None else Path("/usr/local/share/ca-certificates")
    extra = sorted(cas.rglob("*.crt")) if cas.is_dir() else []
    if extra:
        dest = root / "usr/local/share/ca-certificates/host"
        dest.mkdir(parents=True, exist_ok=True)
        for cert in extra:
            shutil.copyfile(cert, dest / cert.name)
        _run(["chroot", str(root), "update-ca-certificates"], "update-ca-certificates in the root", 300)


def make_root(dest: Path, mirror: str) -> BuiltRoot:
    """Build the cached tarball if it is missing, then extract and prepare a fresh root at ``dest``."""
    tarball = tarball_path()
    built = False
    build_seconds = 0.0
    if not tarball.is_file() or not tarfile.is_tarfile(tarball):
        start = time.monotonic()
        build_tarball(tarball, mirror)
        build_seconds = time.monotonic() - start
        built = True
    start = time.monotonic()
    extract(tarball, dest)
    prepare(dest)
    return BuiltRoot(dest, tarball, built, build_seconds, time.monotonic() - start)

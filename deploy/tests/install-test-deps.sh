#!/bin/sh
# Installs the system tools the deployment tests (tests/deploy) need beyond the project venv:
# debootstrap (builds the Debian root the roles are applied to), plus chroot, tar and the sqlite3 shell.
# Idempotent: installs only what is missing, and runs `apt-get update` only then. Needs root (apt-get).
# The Python side (ansible, ansible-lint) comes from the project's `deploy` extra: pip install -e '.[deploy]'.
set -eu

prog=install-test-deps.sh
missing=""
# debootstrap checks the archive's signatures with gpgv and Debian's keyring.
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap debian-archive-keyring gpgv"
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
command -v chroot >/dev/null 2>&1 || missing="$missing coreutils"
command -v tar >/dev/null 2>&1 || missing="$missing tar"

if [ -z "$missing" ]; then
    echo "$prog: debootstrap, sqlite3, chroot and tar are already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$prog: installing$missing needs root (apt-get); run it as root or with sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # the package names are meant to be split
apt-get install -y -qq --no-install-recommends $missing
echo "$prog: installed$missing"

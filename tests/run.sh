#!/usr/bin/env bash
# The one test command: installs what the tests need, then lints, type-checks and runs pytest.
#   bash tests/run.sh [pytest args...]
# Needs Debian 12 (or similar) with python3 >= 3.11. Installs dovecot-imapd, dovecot-lmtpd and
# postfix with apt when missing (as root, or through sudo), and the Python packages into .venv.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

mail_packages_missing() {
    command -v dovecot >/dev/null && command -v postfix >/dev/null \
        && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/lmtp ] \
        && command -v chromium >/dev/null && command -v mutt >/dev/null \
        && command -v tmux >/dev/null \
        && { [ -x .venv/bin/python ] || "${PYTHON:-python3}" -c 'import ensurepip' 2>/dev/null; } \
        && return 1  # chromium: the HTML report screenshot; mutt + tmux: a real mail client
                     # answering; python3-venv: Debian's venv
    return 0
}

install_mail_packages() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "Dovecot/Postfix missing and not root, no sudo. As root run:
  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd dovecot-lmtpd postfix \
    chromium mutt tmux python3-venv"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null || die "Dovecot/Postfix missing and no apt-get: install \
dovecot (imapd + lmtpd) and postfix with your package manager"
    local log
    log="$(mktemp -t mailtix-apt.XXXXXX.log)"
    echo "installing dovecot-imapd dovecot-lmtpd postfix chromium mutt tmux python3-venv with apt \
(log: $log)"
    if ! {
        echo "postfix postfix/main_mailer_type select No configuration" \
            | "${sudo[@]}" debconf-set-selections \
            && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update \
            && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
                dovecot-imapd dovecot-lmtpd postfix chromium mutt tmux python3-venv
    } >"$log" 2>&1 </dev/null; then
        tail -n 40 "$log" >&2
        die "apt-get install failed (full log: $log)"
    fi
    rm -f "$log"
}

step "system packages (dovecot, postfix, chromium, mutt, tmux)"
if mail_packages_missing; then
    install_mail_packages
    mail_packages_missing && die "dovecot/postfix/chromium still missing after apt-get install"
fi
echo "ok: $(dovecot --version 2>/dev/null | cut -d' ' -f1) / postfix $(postconf -dh mail_version 2>/dev/null)"

step "python environment (.venv)"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install python3 (>= 3.11)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "mailtix needs Python >= 3.11, $PYTHON is $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv .venv || die "cannot create .venv (on Debian: apt-get install python3-venv)"
fi
.venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die ".venv has Python < 3.11; remove .venv and rerun"
STAMP=.venv/.mailtix-installed
if [ ! -f "$STAMP" ] || ! cmp -s pyproject.toml "$STAMP"; then
    echo "installing mailtix[test] into .venv"
    pip_log="$(mktemp -t mailtix-pip.XXXXXX.log)"
    if ! .venv/bin/python -m pip install --disable-pip-version-check -q -e '.[test]' \
        >"$pip_log" 2>&1 </dev/null; then
        tail -n 40 "$pip_log" >&2
        die "pip install failed (full log: $pip_log)"
    fi
    rm -f "$pip_log"
    cp pyproject.toml "$STAMP"
fi
echo "ok: $(.venv/bin/python -V)"

status=0
run() {
    step "$*"
    "$@" || { status=1; echo "FAILED: $*"; }
}
run .venv/bin/ruff check mailtix tests
run .venv/bin/ruff format --check mailtix tests
run .venv/bin/mypy
run .venv/bin/lint-imports --no-cache
run .venv/bin/python -m pytest "$@"

if [ "$status" -ne 0 ]; then
    printf '\nSOME STEPS FAILED (see FAILED lines above)\n'
else
    printf '\nall steps passed\n'
fi
exit "$status"

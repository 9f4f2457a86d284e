#!/usr/bin/env bash
# Installs Autobahn|Testsuite's wstest for tests/autobahn/run.py: a Python 2.7 virtualenv in .cache/autobahn-venv
# (git-ignored) with the versions of tests/autobahn/requirements.txt. Idempotent: a second run only checks that wstest
# starts (well under a second). wstest is a Python 2.7 program and needs a Python 2.7 interpreter: $AUTOBAHN_PYTHON2,
# pyenv's 2.7.18, or python2.7 on the PATH (Debian has none since 12; docker's crossbario/autobahn-testsuite image needs
# an engine, which this kind of machine does not run). The virtualenv is made by virtualenv 16.7.12 (the last one
# written for Python 2, a single module), itself installed with Python 2.7's pip into .cache/autobahn-bootstrap.
#
# Exit status: 0 when wstest is ready; 3 when it cannot be installed here, after one line on stderr that starts with
# "AUTOBAHN UNAVAILABLE:" and says why (tests/test_autobahn.py skips with that line); anything else is a bug here.
set -uo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
venv="$root/.cache/autobahn-venv"
boot="$root/.cache/autobahn-bootstrap"
log="$root/.cache/autobahn-setup.log"
reqs="$root/tests/autobahn/requirements.txt"
stamp="$venv/.installed"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1

unavailable() {
    echo "AUTOBAHN UNAVAILABLE: $* (tests/autobahn/setup.sh; details in .cache/autobahn-setup.log)" >&2
    exit 3
}

want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [ -x "$venv/bin/wstest" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
   "$venv/bin/wstest" -a >/dev/null 2>&1; then
    exit 0
fi

mkdir -p "$root/.cache"
: > "$log"
py2=""
for candidate in "${AUTOBAHN_PYTHON2:-}" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python \
                 "$(command -v python2.7 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>>"$log"; then
        py2="$candidate"
        break
    fi
done
[ -n "$py2" ] || unavailable "no Python 2.7 interpreter (set AUTOBAHN_PYTHON2, or pyenv install 2.7.18): wstest needs one"
echo "autobahn: installing Autobahn|Testsuite into .cache/autobahn-venv with $py2 (pip; under a minute)"

# A virtualenv whose interpreter is gone (pyenv reinstalled, another machine) is made anew.
if ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >>"$log" 2>&1; then
    rm -rf "$venv"
    if [ ! -f "$boot/virtualenv.py" ]; then
        "$py2" -m pip --version >>"$log" 2>&1 || "$py2" -m ensurepip --default-pip >>"$log" 2>&1 ||
            unavailable "$py2 has no pip and ensurepip failed"
        "$py2" -m pip install -q --target "$boot" \
            virtualenv==16.7.12 >>"$log" 2>&1 || unavailable "pip could not install virtualenv 16.7.12 for Python 2.7"
    fi
    PYTHONPATH="$boot" "$py2" -m virtualenv -q -p "$py2" "$venv" >>"$log" 2>&1 ||
        unavailable "virtualenv 16.7.12 could not make a Python 2.7 virtualenv"
fi
# --no-deps: requirements.txt pins every package, so nothing unpinned can come in.
"$venv/bin/python" -m pip install -q --no-deps -r "$reqs" \
    >>"$log" 2>&1 || unavailable "pip could not install tests/autobahn/requirements.txt into the Python 2.7 virtualenv"
"$venv/bin/python" -m pip check >>"$log" 2>&1 || unavailable "the installed packages do not fit together (pip check)"
version="$("$venv/bin/wstest" -a 2>>"$log" | tr '\n' ' ')" || unavailable "wstest was installed but does not start"
echo "$want" > "$stamp"
echo "autobahn: wstest ready: $version"

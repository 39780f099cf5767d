#!/usr/bin/env bash
# Creates .venv with a Python >= 3.12 and installs the locked dependencies.
# Re-running is cheap: it reinstalls only when the lock or pyproject changed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3 \
        "$HOME"/.pyenv/versions/3.13.*/bin/python "$HOME"/.pyenv/versions/3.12.*/bin/python \
        /usr/local/bin/python3.13 /usr/local/bin/python3.12 /usr/bin/python3.13 /usr/bin/python3.12; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
            command -v "$candidate" 2>/dev/null || echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ]; then
    if ! python_bin=$(find_python); then
        echo "error: Heroshhi Pro needs Python 3.12 or newer." >&2
        echo "  Looked at: \$PYTHON, python3.13, python3.12, python3, ~/.pyenv/versions/3.1[23].*/bin/python." >&2
        echo "  Install one (e.g. 'pyenv install 3.13') or set PYTHON=/path/to/python3.13." >&2
        exit 1
    fi
    echo "Using $python_bin ($("$python_bin" --version))"
    "$python_bin" -m venv .venv
fi

stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    # The machine-wide pip config lists optional local indexes; their absence is noise.
    quiet_pip() { .venv/bin/python -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
    quiet_pip --upgrade pip
    quiet_pip -r requirements.lock
    touch "$stamp"
fi

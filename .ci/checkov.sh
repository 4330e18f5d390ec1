#!/usr/bin/env bash
# Static security scan of the Bicep templates in infra/ with Checkov.
#
# Checkov pins many heavy dependencies of its own, so it lives in its own virtual environment
# (.venv-checkov, git-ignored by the `.venv-*/` pattern) rather than in requirements-dev.txt.
# Fails (non-zero exit) on any failed check, on any file Checkov cannot parse (a file it cannot
# parse is a file it did not check) and when it scanned nothing. A check that does not apply is
# skipped in the Bicep file itself, inside the resource, with `//checkov:skip=CKV_...:reason`.
#
# Usage: .ci/checkov.sh [extra checkov arguments]
#   CHECKOV_VENV=/path  put the environment elsewhere
#   PYTHON=python3.11   interpreter for the environment
set -euo pipefail

CHECKOV_VERSION="3.3.30"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

installed_version() {
  "$VENV/bin/python" -m pip show checkov 2>/dev/null | sed -n 's/^Version: //p'
}

if [[ ! -x "$VENV/bin/checkov" ]] || [[ "$(installed_version)" != "$CHECKOV_VERSION" ]]; then
  echo "checkov.sh: installing checkov==$CHECKOV_VERSION into $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  # (grep drops the noise of pip mirrors that list no such package; pip's own status is kept.)
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
    2> >(grep -v '^WARNING: Location ' >&2)
fi

# Offline: no policy/guideline download from the vendor's platform, no update check.
export BC_SKIP_MAPPING=TRUE
export CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"

cd "$ROOT"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

status=0
# --quiet: list only failed checks; --compact: no code excerpts. Non-zero exit on a failed check.
"$VENV/bin/checkov" -d infra --framework bicep --quiet --compact --skip-download "$@" 2>&1 \
  | tee "$out" || status=$?

if grep -Eq 'Parsing errors: [1-9]|Error parsing file' "$out"; then
  echo "checkov.sh: FAILED: Checkov could not parse a Bicep file (see above): it was not checked." >&2
  status=1
fi
if ! grep -Eq 'Passed checks: [1-9]' "$out"; then
  echo "checkov.sh: FAILED: no check passed: did Checkov scan infra/ at all?" >&2
  status=1
fi
if [[ $status -eq 0 ]]; then
  echo "checkov.sh: OK"
fi
exit "$status"

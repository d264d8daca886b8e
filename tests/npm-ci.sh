# Sourced by tests/jco/run.sh and tests/browser/run.sh after require-node.sh:
# `pinned_npm_ci <suite>` installs the packages pinned in the current
# directory's package-lock.json, and fails clearly when npm could not. At
# --loglevel=error npm says little more than "A complete log of this run can
# be found in ..." when it fails on what it counts as a warning (a full disk
# is one), and it exits 0 when files of a package could not be unpacked. So
# this fails such an install too, and on failure prints the warnings and
# errors from npm's log (each once) and the free disk space, and keeps the log.
pinned_npm_ci() {
    local suite=$1 logs rc=0
    logs=$(mktemp -d "${TMPDIR:-/tmp}/npm-ci-logs.XXXXXX")
    npm ci --no-audit --no-fund --loglevel=error --logs-dir="$logs" || rc=$?
    # npm can report success when files failed to unpack (a full disk).
    if [ "$rc" -eq 0 ] && grep -qE '^[0-9]+ warn tar ' "$logs"/*.log 2>/dev/null; then
        echo "$suite: npm ci said it succeeded, but some package files were not written" >&2
        rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        {
            echo "$suite: npm ci failed (exit $rc); what npm logged:"
            grep -hE '^[0-9]+ (warn|error) ' "$logs"/*.log 2>/dev/null \
                | sed -E 's/^[0-9]+ //' | awk '!seen[$0]++' | tail -n 20 || true
            echo "$suite: free space where the packages go: $(df -h . | awk 'NR == 2 { print $4 " of " $2 }')"
            echo "$suite: npm's whole log is kept in $logs"
        } >&2
        return "$rc"
    fi
    rm -rf "$logs"
}

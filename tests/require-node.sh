# Sourced by tests/jco/run.sh and tests/browser/run.sh: stops with a clear
# message unless Node.js 20 or newer and npm are on PATH. $1 names the suite.
command -v node >/dev/null || { echo "$1: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "$1: npm is required" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "$1: Node.js >= 20 is required, found $(node --version); install a newer one" >&2
    exit 1
fi

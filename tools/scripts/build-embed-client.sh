#!/usr/bin/env bash
#
# build-embed-client.sh builds the embed client (gateway/embedclient/web: TypeScript and
# Apache ECharts from npm) into gateway/embedclient/dist, which the gateway embeds. It
# installs Node.js and npm with apt-get when they are missing and it runs as root (CI).
set -euo pipefail
cd "$(dirname "$0")/../../gateway/embedclient/web"
if ! command -v npm >/dev/null 2>&1; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "build-embed-client: npm is missing; install Node.js 20 or newer (Debian: apt-get install nodejs npm)" >&2
		exit 1
	fi
	echo "build-embed-client: installing nodejs and npm" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2
fi
# The lock file pins every package; ci installs exactly it. No package needs its install
# scripts (esbuild's only checks the binary its platform package already brings), so none
# runs.
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
npm run --silent build
for f in oriel-embed.js frame.html; do
	if [[ ! -s ../dist/$f ]]; then
		echo "build-embed-client: ../dist/$f was not built" >&2
		exit 1
	fi
done

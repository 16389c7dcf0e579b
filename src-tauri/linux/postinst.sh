#!/bin/sh
# After the package is installed: the system user the agent's service runs as, and its
# state folder. The service itself stays disabled until the administrator enables it.
set -e
if ! getent passwd tidemark >/dev/null; then
  if command -v adduser >/dev/null && adduser --help 2>&1 | grep -q -- --system; then
    adduser --system --group --home /var/lib/tidemark --no-create-home --quiet tidemark
  else
    useradd --system --user-group --home-dir /var/lib/tidemark --shell /usr/sbin/nologin tidemark
  fi
fi
install -d -m 0700 -o tidemark -g tidemark /var/lib/tidemark
# The root agent.conf names at first; an administrator may point it elsewhere.
[ -e /srv/tidemark ] || install -d -m 0750 -o tidemark -g tidemark /srv/tidemark
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0

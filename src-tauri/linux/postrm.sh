#!/bin/sh
# After the package is removed: systemd forgets the unit. The agent's history, tokens and
# certificate in /var/lib/tidemark are kept, as the data of a removed service usually is.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0

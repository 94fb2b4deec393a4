#!/bin/sh
# Writes the page, then serves it on port 80. The service spec mounts the node's
# /etc/hostname at /etc/berth-machine, so the page names the machine, not the container.
set -eu
machine=$(cat /etc/berth-machine 2>/dev/null || hostname)
mkdir -p /srv/www
printf '<!doctype html>\n<title>berth example</title>\n<h1>Hello from %s</h1>\n<p>served by berth-example-web, a berth service on this machine.</p>\n' "$machine" > /srv/www/index.html
exec /usr/local/bin/busybox httpd -f -v -p 80 -h /srv/www

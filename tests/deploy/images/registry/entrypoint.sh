#!/bin/sh
# registry:2's entrypoint: `CONFIG.yml` or `serve ...` run the registry binary.
set -e
case "$1" in
    *.yaml | *.yml) set -- registry serve "$@" ;;
    serve | garbage-collect | help | -*) set -- registry "$@" ;;
esac
exec "$@"

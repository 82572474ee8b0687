#!/usr/bin/env bash
# Time the image build with buildah and report the image's size (bench/results/image_build.md).
#
#   bench/image_build.sh            build as `make image-test` does (cached base when present)
#   bench/image_build.sh --fresh    drop the cached Debian base (tarball and imported image) first
#
# Prints the build's wall time, the image size as stored (uncompressed layers), the size a pull
# transfers (gzip-compressed layers, measured by pushing to a local OCI layout) and the size of
# the virtual environment's site-packages.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
IMAGE=${IMAGE:-ghcr.io/heteropool/heteropool:$VERSION}
CACHE_DIR=${CACHE_DIR:-/var/cache/heteropool}
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
bah() { buildah --storage-driver "$STORAGE_DRIVER" "$@"; }

if [ "${1:-}" = --fresh ]; then
    rm -f "$CACHE_DIR"/debian-*.tar
    if command -v buildah >/dev/null; then
        bah images --format '{{.Name}}:{{.Tag}}' | grep -E '^localhost/heteropool-base:' | xargs -r buildah --storage-driver "$STORAGE_DRIVER" rmi >/dev/null || true
    fi
fi

start=$SECONDS
IMAGE=$IMAGE ENGINE=buildah scripts/image.sh build >/tmp/heteropool-image-build.log 2>&1 \
    || { tail -30 /tmp/heteropool-image-build.log; exit 1; }
build_s=$((SECONDS - start))

oci=$(mktemp -d)
trap 'rm -rf "$oci"' EXIT
bah push --quiet "$IMAGE" "oci:$oci/layout" >/dev/null
pull_bytes=$(du -sb "$oci/layout/blobs" | cut -f1)
ctr=$(bah from --quiet --pull-never "$IMAGE")
site=$(bah run --isolation chroot "$ctr" -- du -sm /opt/heteropool/lib/python3.11/site-packages | cut -f1)
bah rm "$ctr" >/dev/null

printf 'image %s\nbuild %s s%s\nstored (uncompressed) %s\npull (compressed) %s MB\nsite-packages %s MB\n' \
    "$IMAGE" "$build_s" "$( [ "${1:-}" = --fresh ] && echo ' (fresh base)' || echo ' (cached base)')" \
    "$(bah images --format '{{.Size}}' "$IMAGE")" "$((pull_bytes / 1000000))" "$site"

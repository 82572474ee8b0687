#!/usr/bin/env bash
# Build the heteropool image (make image) with docker, podman or buildah.
#
#   scripts/image.sh tools   install buildah and debootstrap with apt when missing (quiet, idempotent)
#   scripts/image.sh base    the Debian bookworm base, debootstrapped here, cached under $CACHE_DIR
#   scripts/image.sh build   build and tag $IMAGE from the Dockerfile
#   scripts/image.sh engine  print the engine `build` uses
#
# The Dockerfile's base is Debian bookworm slim; every step after FROM installs Debian's python3
# and the package. Docker and podman pull that base from a registry. Without a working docker or
# podman engine the build runs with buildah (vfs storage, chroot isolation, as root), and the base
# is made by debootstrap from the Debian mirror instead: the same distribution, package set and
# dpkg/apt settings as the slim image, then the same RUN steps. docs/image.md has the details.
#
# Environment (all optional):
#   IMAGE          tag to build                    (default ghcr.io/heteropool/heteropool:<version>)
#   ENGINE         docker | podman | buildah       (default: docker or podman if its engine answers, else buildah)
#   BASE_IMAGE     base for FROM                   (default: the Dockerfile's; with buildah: the debootstrapped one)
#   CA_BUNDLE      CA file handed to pip as a build secret (default: the host's bundle when present;
#                  empty: none, as in release builds)
#   DEBIAN_MIRROR  mirror for debootstrap          (default http://deb.debian.org/debian)
#   CACHE_DIR      where the base tarball is kept  (default /var/cache/heteropool)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE=${IMAGE:-ghcr.io/heteropool/heteropool:$VERSION}
CACHE_DIR=${CACHE_DIR:-/var/cache/heteropool}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}
SUITE=bookworm
# Bump when the base recipe below changes: a cached base of another recipe is rebuilt.
BASE_RECIPE=1
BASE_TAG=localhost/heteropool-base:$SUITE-r$BASE_RECIPE
BASE_MAX_AGE_DAYS=30
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

# vfs needs no mount privileges or kernel support; STORAGE_DRIVER=overlay is faster where it works.
bah() { buildah --storage-driver "$STORAGE_DRIVER" "$@"; }
log() { echo "image: $*" >&2; }
die() { echo "image: error: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (debootstrap, and buildah with chroot isolation); with docker or podman use ENGINE=docker|podman"
}

cmd_tools() {
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    need_root "installing ${missing[*]}"
    command -v apt-get >/dev/null || die "${missing[*]} missing and no apt-get to install them"
    log "installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cmd_engine() {
    if [ -n "${ENGINE:-}" ]; then echo "$ENGINE"; return; fi
    local engine
    for engine in docker podman; do
        if command -v "$engine" >/dev/null && "$engine" info >/dev/null 2>&1; then echo "$engine"; return; fi
    done
    echo buildah
}

# Slim the way Debian's slim images are: no documentation, manual pages or translations (copyright
# files stay), for this install and every later dpkg run; apt keeps no archives and no translations.
write_slim_config() {
    local root=$1
    cat >"$root/etc/dpkg/dpkg.cfg.d/heteropool-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat >"$root/etc/apt/apt.conf.d/heteropool-slim" <<'EOF'
APT::AutoRemove::SuggestsImportant "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,groff,info,lintian,linda}/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    rm -rf "$root"/dev/* "$root"/proc/* "$root"/sys/* "$root"/tmp/* "$root"/var/log/*.log
}

# The base tarball: debootstrap's minimal variant of Debian $SUITE, slimmed. Kept in $CACHE_DIR and
# rebuilt when older than $BASE_MAX_AGE_DAYS (the build's `apt-get upgrade` brings the rest).
base_tarball() {
    local tarball=$CACHE_DIR/debian-$SUITE-r$BASE_RECIPE.tar
    if [ -s "$tarball" ] && [ -z "$(find "$tarball" -mtime +"$BASE_MAX_AGE_DAYS")" ]; then
        echo "$tarball"; return
    fi
    need_root "debootstrap"
    mkdir -p "$CACHE_DIR"
    local root
    root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    trap 'rm -rf "$root"' RETURN
    log "debootstrap $SUITE from $DEBIAN_MIRROR (about a minute)"
    debootstrap --variant=minbase "$SUITE" "$root" "$DEBIAN_MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $CACHE_DIR/debootstrap.log"
    write_slim_config "$root"
    tar --numeric-owner --xattrs -C "$root" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    echo "$tarball"
}

cmd_base() {
    need_root "the debootstrapped base"
    local tarball digest
    tarball=$(base_tarball)
    digest=$(sha256sum "$tarball" | cut -c1-64)
    if [ "$(bah inspect --type image --format '{{index .ImageAnnotations "dev.heteropool.base.tarball"}}' "$BASE_TAG" 2>/dev/null)" = "$digest" ]; then
        echo "$BASE_TAG"; return
    fi
    log "importing $tarball as $BASE_TAG"
    local ctr
    ctr=$(bah from scratch)
    bah add --quiet "$ctr" "$tarball" / >/dev/null
    bah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --annotation "dev.heteropool.base.tarball=$digest" "$ctr"
    bah commit --quiet --rm "$ctr" "$BASE_TAG" >/dev/null
    echo "$BASE_TAG"
}

cmd_build() {
    local engine secret=() base=()
    engine=$(cmd_engine)
    [ -n "$CA_BUNDLE" ] && [ -s "$CA_BUNDLE" ] && secret=(--secret "id=ca-certificates,src=$CA_BUNDLE")
    if [ "$engine" = buildah ]; then
        cmd_tools
        base=(--build-arg "BASE_IMAGE=${BASE_IMAGE:-$(cmd_base)}")
    elif [ -n "${BASE_IMAGE:-}" ]; then
        base=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
    fi
    log "building $IMAGE with $engine (version $VERSION, revision $REVISION)"
    local start=$SECONDS
    local build=("$engine" build)
    [ "$engine" = buildah ] && build=(bah build --isolation "$BUILDAH_ISOLATION")
    "${build[@]}" "${base[@]}" "${secret[@]}" \
        --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
        --tag "$IMAGE" --file Dockerfile .
    log "built $IMAGE in $((SECONDS - start)) s"
    if [ "$engine" = buildah ]; then
        bah rmi --prune >/dev/null 2>&1 || true  # the previous build's image, now untagged
    fi
}

case "${1:-}" in
    tools) cmd_tools ;;
    base) cmd_base ;;
    build) cmd_build ;;
    engine) cmd_engine ;;
    *) die "usage: $0 tools|base|build|engine" ;;
esac

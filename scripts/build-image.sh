#!/usr/bin/env bash
# Build the runtime image with buildah, without a Docker daemon or a registry:
#   scripts/build-image.sh [--no-framework]
#
# - The base: BASE_IMAGE if set (e.g. python:3.11-slim-bookworm, pulled as usual), otherwise a
#   local Debian bookworm base made once with debootstrap from the mirror apt on this machine
#   uses, and reused while it exists (`buildah rmi localhost/trading-runtime-base:bookworm` to
#   make it again). The machine's extra CA certificates (/usr/local/share/ca-certificates, e.g.
#   an egress proxy's) go into that base, and PIP_CERT points pip at the system bundle, because
#   pip in a venv trusts only its own bundle otherwise.
# - --no-framework: INSTALL_FRAMEWORK=false, for machines that cannot reach GitHub. The image's
#   labels and `trading-runtime info` then say the framework is absent.
# - Builds the Dockerfile's `runtime` target with buildah's layer cache (--layers) and tags it
#   localhost/trading-runtime:<commit> (<commit>-dirty when the worktree has changes, since the
#   build context is the worktree), and writes that name to $IMAGE_NAME_FILE when set.
# Needs root (or buildah's rootless setup), buildah and debootstrap (Debian: apt-get install
# buildah debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."

install_framework=true
if [[ "${1:-}" == "--no-framework" ]]; then install_framework=false; shift; fi
[[ $# == 0 ]] || { echo "usage: $0 [--no-framework]" >&2; exit 2; }

BASE_NAME=localhost/trading-runtime-base:bookworm
IMAGE_REPO=${IMAGE_REPO:-localhost/trading-runtime}
# buildah's default storage driver is overlay; STORAGE_DRIVER=vfs where overlay cannot mount.
storage=()
[[ -z "${STORAGE_DRIVER:-}" ]] || storage=(--storage-driver "$STORAGE_DRIVER")

elapsed() { echo "$(( $(date +%s) - $1 ))"; }

# The mirror apt already uses for bookworm's main component (apt's own view of its sources, so
# deb822 and one-line formats both work); no host is named in this repository.
debian_mirror() {
  apt-get indextargets --format '$(REPO_URI)' 'Codename: bookworm' 'Component: main' \
    'Created-By: Packages' | head -n 1
}

bootstrap_base() {
  local mirror rootfs ctr
  mirror="$(debian_mirror)"
  [[ -n "$mirror" ]] || {
    echo "error: apt has no source for bookworm main (see /etc/apt/sources.list*)" >&2; exit 1; }
  echo "bootstrapping $BASE_NAME from $mirror"
  ctr="$(buildah "${storage[@]}" from scratch)"
  rootfs="$(buildah "${storage[@]}" mount "$ctr")"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$mirror"
  # The machine's extra CAs (a TLS-intercepting egress proxy's, for instance): public
  # certificates, no proxy credentials.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates
  fi
  # Like the official python image: no package lists or downloaded packages in the base.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  buildah "${storage[@]}" umount "$ctr" > /dev/null
  buildah "${storage[@]}" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    --label io.trading-runtime.base="debootstrap minbase bookworm, local build only" \
    --cmd python3 "$ctr"
  buildah "${storage[@]}" commit --format docker --rm "$ctr" "$BASE_NAME" > /dev/null
}

start=$(date +%s)
base="${BASE_IMAGE:-}"
pull=()
if [[ -z "$base" ]]; then
  base="$BASE_NAME"
  pull=(--pull-never)
  if buildah "${storage[@]}" inspect --type image "$BASE_NAME" > /dev/null 2>&1; then
    echo "base: reusing $BASE_NAME"
  else
    bootstrap_base
    echo "base: bootstrapped $BASE_NAME in $(elapsed "$start") s"
  fi
fi

commit="$(git rev-parse HEAD)"
tag="$commit"
[[ -z "$(git status --porcelain)" ]] || tag="$commit-dirty"
framework_commit=""
if [[ $install_framework == true ]]; then
  # shellcheck disable=SC1091
  framework_commit="$(. ./.env && echo "$TRADING_PLATFORM_COMMIT")"
fi
image="$IMAGE_REPO:$tag"

build_start=$(date +%s)
# docker format: OCI image configs drop SHELL (and with it the Dockerfile's pipefail).
buildah "${storage[@]}" bud --layers --isolation chroot --format docker "${pull[@]}" \
  --target runtime \
  --build-arg BASE_IMAGE="$base" \
  --build-arg INSTALL_FRAMEWORK="$install_framework" \
  --build-arg TRADING_PLATFORM_COMMIT="$framework_commit" \
  --build-arg GIT_COMMIT="$tag" \
  --build-arg GIT_BRANCH="$(git rev-parse --abbrev-ref HEAD)" \
  --tag "$image" .
echo "built $image in $(elapsed "$build_start") s (total $(elapsed "$start") s)"
buildah "${storage[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -F "$image "
buildah "${storage[@]}" inspect --type image --format \
  '{{printf "framework installed: %s\n" (index .OCIv1.Config.Labels "io.trading-runtime.framework-installed")}}' \
  "$image"
[[ -z "${IMAGE_NAME_FILE:-}" ]] || printf '%s\n' "$image" > "$IMAGE_NAME_FILE"

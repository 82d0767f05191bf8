#!/usr/bin/env bash
# Builds the kruntimes container images (every target of docker/Dockerfile)
# into local image storage, tags them kruntimes/<target>:<version> as
# k8s/overlays/k3s names them, and prints their sizes; optionally exports them
# as archives for `k3s ctr images import`, `k3d image import` or `docker load`.
# Run `scripts/build-images.sh --help` for the options.
set -euo pipefail

PROG=build-images
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKERFILE=docker/Dockerfile
BIN_CONTEXT=.image-bin        # the Dockerfile's binaries-prebuilt stage copies this
ALL_TARGETS=(scheduler controller reaper maintainer runtimed bash-runtime python-runtime krt)
# target -> the binary's path in a meson build directory (its file name is
# the name under /out in the Dockerfile and in .image-bin/)
declare -A BUILD_PATH=(
  [scheduler]=services/scheduler/kruntimes-scheduler
  [controller]=services/controller/kruntimes-controller
  [reaper]=services/reaper/kruntimes-reaper
  [maintainer]=services/maintainer/kruntimes-maintainer
  [runtimed]=sidecar/runtimed
  [bash-runtime]=servers/bash-runtime
  [python-runtime]=servers/python-runtime
  [krt]=tools/krt/krt
)
APT_PACKAGES="buildah podman runc mmdebstrap"
CACHE_DIR=${KRUNTIMES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kruntimes}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

usage() {
  cat <<EOF
Usage: scripts/build-images.sh [OPTION...]

Builds every target of docker/Dockerfile (${ALL_TARGETS[*]})
as the image kruntimes/<target>:<version> (version from meson.build), then
prints a table of image sizes and build times. The project is compiled once,
in the Dockerfile's shared build stage; the other targets reuse its cached
layers. Needs buildah (preferred), podman or docker; no Docker engine needed.

Options:
  --tool buildah|podman|docker
                      the builder (default: buildah if installed, else podman,
                      else docker)
  --target T          build only target T; repeatable (T may be a comma list)
  --binaries DIR      do not compile: take the binaries from DIR, a meson build
                      directory (e.g. build/) or a directory holding the eight
                      binaries by file name (kruntimes-scheduler, runtimed, krt,
                      ...). They must have been built on Debian 12. They are
                      stripped into $BIN_CONTEXT/ for the build and removed after.
  --export-oci DIR    also write one OCI archive per image to DIR
                      (kruntimes-<target>-<version>.tar), for
                      \`k3s ctr images import FILE\` on each node
  --export-docker FILE
                      also write one docker-archive holding all the images, for
                      \`docker load -i FILE\`, \`k3d image import -c CLUSTER FILE\`
                      or \`k3s ctr images import FILE\`
  --version V         tag version (default: the version in meson.build)
  --no-pull           do not try to pull missing base images; make them locally
  --refresh-base      remake the cached base image tarballs (mmdebstrap) and
                      re-import them; use it to pick up Debian updates
  --no-cache          build without the layer cache (the compile too)
  -h, --help          this text

Base images: the Dockerfile starts from debian:bookworm (build stage) and
debian:bookworm-slim (runtime stages). When they are not in local storage and
cannot be pulled, they are made with mmdebstrap (minbase, Debian 12 with
updates and security) and imported as localhost/debian:bookworm and
localhost/debian:bookworm-slim; the tarballs are cached in
$CACHE_DIR and reused.

Environment:
  STORAGE_DRIVER      containers storage driver for buildah/podman (overlay or
                      vfs). Default: what the existing storage uses; for new
                      storage, overlay if a test overlay mount works, else vfs.
  KRUNTIMES_CACHE_DIR where the base tarballs go (default ~/.cache/kruntimes)
  DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR
                      mirrors for mmdebstrap (default deb.debian.org)

Examples:
  scripts/build-images.sh                                # compile, build all 8
  scripts/build-images.sh --binaries build-test          # reuse a meson build
  scripts/build-images.sh --export-oci /tmp/images      # then, on each k3s node:
      for f in /tmp/images/*.tar; do sudo k3s ctr images import "\$f"; done
  scripts/build-images.sh --tool docker --export-docker kruntimes.tar
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
now() { date +%s; }
fmt_secs() { local s=$1; if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi; }
fmt_bytes() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

# ---------------------------------------------------------------- options
TOOL=
TARGETS=()
BINARIES_DIR=
EXPORT_OCI=
EXPORT_DOCKER=
VERSION=
NO_PULL=0
REFRESH_BASE=0
NO_CACHE=0
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --tool) TOOL=${2:?--tool needs buildah, podman or docker}; shift 2 ;;
    --tool=*) TOOL=${1#*=}; shift ;;
    --target) IFS=, read -ra t <<<"${2:?--target needs a target}"; TARGETS+=("${t[@]}"); shift 2 ;;
    --target=*) IFS=, read -ra t <<<"${1#*=}"; TARGETS+=("${t[@]}"); shift ;;
    --binaries) BINARIES_DIR=${2:?--binaries needs a directory}; shift 2 ;;
    --binaries=*) BINARIES_DIR=${1#*=}; shift ;;
    --export-oci) EXPORT_OCI=${2:?--export-oci needs a directory}; shift 2 ;;
    --export-oci=*) EXPORT_OCI=${1#*=}; shift ;;
    --export-docker) EXPORT_DOCKER=${2:?--export-docker needs a file name}; shift 2 ;;
    --export-docker=*) EXPORT_DOCKER=${1#*=}; shift ;;
    --version) VERSION=${2:?--version needs a version}; shift 2 ;;
    --version=*) VERSION=${1#*=}; shift ;;
    --no-pull) NO_PULL=1; shift ;;
    --refresh-base) REFRESH_BASE=1; shift ;;
    --no-cache) NO_CACHE=1; shift ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

if ((${#TARGETS[@]} == 0)); then
  TARGETS=("${ALL_TARGETS[@]}")
fi
for t in "${TARGETS[@]}"; do
  [[ -n ${BUILD_PATH[$t]:-} ]] || die "unknown target '$t'; the targets are: ${ALL_TARGETS[*]}"
done

cd "$REPO"
[[ -f $DOCKERFILE ]] || die "$REPO/$DOCKERFILE not found"
if [[ -z $VERSION ]]; then
  VERSION=$(sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" meson.build | head -n 1)
  [[ -n $VERSION ]] || die "cannot read the version from meson.build; pass --version"
fi

# Absolute paths, before anything changes directory.
abspath() { local d; d=$(cd "$(dirname "$1")" 2>/dev/null && pwd) || die "directory of $1 does not exist"; printf '%s/%s' "$d" "$(basename "$1")"; }
if [[ -n $EXPORT_OCI ]]; then mkdir -p "$EXPORT_OCI"; EXPORT_OCI=$(cd "$EXPORT_OCI" && pwd); fi
if [[ -n $EXPORT_DOCKER ]]; then
  [[ ! -d $EXPORT_DOCKER ]] || die "--export-docker wants a file name; $EXPORT_DOCKER is a directory"
  EXPORT_DOCKER=$(abspath "$EXPORT_DOCKER")
fi

# ---------------------------------------------------------------- tool
docker_works() { have docker && docker info >/dev/null 2>&1; }
if [[ -z $TOOL ]]; then
  if have buildah; then TOOL=buildah
  elif have podman; then TOOL=podman
  elif docker_works; then TOOL=docker
  elif have docker; then
    die "docker is installed but its engine does not answer (docker info fails), and neither buildah nor podman is installed. Start the Docker engine, or build without one: apt-get install $APT_PACKAGES"
  else
    die "no image builder found. On Debian 12: apt-get install $APT_PACKAGES (buildah builds, podman runs and exports, runc runs containers, mmdebstrap makes base images offline); or install Docker"
  fi
fi
case $TOOL in
  buildah|podman) have "$TOOL" || die "--tool $TOOL: $TOOL is not installed (Debian 12: apt-get install $APT_PACKAGES)" ;;
  docker)
    have docker || die "--tool docker: docker is not installed"
    docker_works || die "--tool docker: the Docker engine does not answer (docker info fails). Start it, or use buildah (apt-get install $APT_PACKAGES)" ;;
  *) die "--tool must be buildah, podman or docker, not '$TOOL'" ;;
esac
if [[ $TOOL == buildah && -n $EXPORT_DOCKER && ${#TARGETS[@]} -gt 1 ]] && ! have podman; then
  die "--export-docker with several images needs podman to write one multi-image archive (apt-get install podman), or use --export-oci"
fi

# ---------------------------------------------------------------- storage driver
# buildah and podman share one storage (/var/lib/containers/storage for
# root), which must keep one driver. overlay is much faster and smaller;
# vfs works everywhere (a full copy per layer).
STORAGE_DRIVER_ARGS=()
DRIVER=
DRIVER_WHY=
GRAPHROOT=
storage_conf() {
  if (($(id -u) == 0)); then printf '%s' "${CONTAINERS_STORAGE_CONF:-/etc/containers/storage.conf}"
  elif [[ -f ${XDG_CONFIG_HOME:-$HOME/.config}/containers/storage.conf ]]; then printf '%s' "${XDG_CONFIG_HOME:-$HOME/.config}/containers/storage.conf"
  else printf '%s' /etc/containers/storage.conf
  fi
}
conf_value() { # key file: the first `key = "value"` in the [storage] table
  [[ -r $2 ]] || return 0
  awk -v k="$1" '
    /^[[:space:]]*\[/ { in_storage = ($0 ~ /^[[:space:]]*\[storage\][[:space:]]*$/) ; next }
    in_storage && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" {
      sub(/^[^=]*=[[:space:]]*/, ""); gsub(/"/, ""); sub(/[[:space:]]*(#.*)?$/, ""); print; exit }' "$2"
}
images_in() { # graphroot driver -> number of images that driver's store holds
  local f=$1/$2-images/images.json
  [[ -s $f ]] || { echo 0; return; }
  grep -o '"id"' "$f" | wc -l
}
overlay_mount_works() { # dir: can we mount overlayfs on this filesystem?
  local base=$1 d ok=1
  mkdir -p "$base" 2>/dev/null || return 1
  d=$(mktemp -d "$base/.kruntimes-overlay-probe.XXXXXX") || return 1
  mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/merged"
  echo probe >"$d/lower/file"
  local opts="lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work"
  if (($(id -u) == 0)); then
    if mount -t overlay overlay -o "$opts" "$d/merged" 2>/dev/null; then
      [[ -f $d/merged/file ]] && echo x >"$d/merged/new" 2>/dev/null && ok=0
      umount "$d/merged" 2>/dev/null || true
    fi
  elif have unshare; then
    unshare --user --map-root-user --mount sh -c \
      "mount -t overlay overlay -o '$opts' '$d/merged' && test -f '$d/merged/file'" >/dev/null 2>&1 && ok=0
  fi
  rm -rf "$d"
  return $ok
}
choose_storage_driver() {
  local conf graphroot n_overlay n_vfs
  conf=$(storage_conf)
  if (($(id -u) == 0)); then graphroot=$(conf_value graphroot "$conf"); graphroot=${graphroot:-/var/lib/containers/storage}
  else graphroot=$(conf_value rootless_storage_path "$conf"); graphroot=${graphroot:-${XDG_DATA_HOME:-$HOME/.local/share}/containers/storage}
  fi
  graphroot=${graphroot//\$HOME/$HOME}
  if [[ -n ${STORAGE_DRIVER:-} ]]; then
    DRIVER=$STORAGE_DRIVER DRIVER_WHY="from STORAGE_DRIVER"
  elif [[ -n $(conf_value driver "$conf") ]]; then
    DRIVER=$(conf_value driver "$conf") DRIVER_WHY="set in $conf"
  elif [[ -d $graphroot/overlay-layers || -d $graphroot/vfs-layers ]]; then
    n_overlay=$(images_in "$graphroot" overlay) n_vfs=$(images_in "$graphroot" vfs)
    if [[ -d $graphroot/overlay-layers && ( ! -d $graphroot/vfs-layers || n_overlay -ge n_vfs ) ]]; then
      DRIVER=overlay DRIVER_WHY="the existing storage in $graphroot uses it"
    else
      DRIVER=vfs DRIVER_WHY="the existing storage in $graphroot uses it"
    fi
  elif overlay_mount_works "$(dirname "$graphroot")"; then
    DRIVER=overlay DRIVER_WHY="new storage in $graphroot; a test overlay mount there works"
  else
    DRIVER=vfs DRIVER_WHY="new storage in $graphroot; overlay mounts do not work there (vfs copies each layer in full: slower, larger)"
  fi
  STORAGE_DRIVER_ARGS=(--storage-driver "$DRIVER")
  GRAPHROOT=$graphroot
}

# ---------------------------------------------------------------- tool wrappers
c() { # the builder with the storage driver (buildah/podman) or docker
  case $TOOL in
    buildah) buildah "${STORAGE_DRIVER_ARGS[@]}" "$@" ;;
    podman) podman "${STORAGE_DRIVER_ARGS[@]}" "$@" ;;
    docker) docker "$@" ;;
  esac
}
image_exists() {
  case $TOOL in
    buildah) c inspect --type image "$1" >/dev/null 2>&1 ;;
    podman) c image exists "$1" ;;
    docker) docker image inspect "$1" >/dev/null 2>&1 ;;
  esac
}
# The name images get in storage. buildah and podman would store a bare
# kruntimes/x as localhost/kruntimes/x; docker.io/kruntimes/x is what
# Kubernetes and containerd mean by kruntimes/x, and what `docker load`
# shows as kruntimes/x, so exported archives carry that name.
image_ref() {
  if [[ $TOOL == docker ]]; then printf 'kruntimes/%s:%s' "$1" "$VERSION"
  else printf 'docker.io/kruntimes/%s:%s' "$1" "$VERSION"; fi
}
image_size() { # bytes when the tool tells them, else its own text
  case $TOOL in
    docker) docker image inspect --format '{{.Size}}' "$1" ;;
    podman) c image inspect --format '{{.Size}}' "$1" ;;
    buildah)
      if have podman; then podman "${STORAGE_DRIVER_ARGS[@]}" image inspect --format '{{.Size}}' "$1"
      else c images --noheading --format '{{.Size}}' "$1" | head -n 1; fi ;;
  esac
}
distinct_size() { # refs... -> bytes of their distinct layers (what a node stores), or nothing
  [[ $TOOL != docker ]] && have podman || return 0
  local lj=$GRAPHROOT/$DRIVER-layers/layers.json ids
  [[ -r $lj ]] || return 0
  ids=$(for r in "$@"; do
          podman "${STORAGE_DRIVER_ARGS[@]}" image inspect --format '{{range .RootFS.Layers}}{{println .}}{{end}}' "$r"
        done | grep . | sort -u) || return 0
  grep -o '"diff-digest":"sha256:[0-9a-f]*","diff-size":[0-9]*' "$lj" |
    sed 's/^"diff-digest":"\([^"]*\)","diff-size":/\1 /' |
    awk -v ids="$ids" 'BEGIN { n = split(ids, a, "\n"); for (i = 1; i <= n; i++) want[a[i]] = 1 }
                       ($1 in want) && !seen[$1]++ { s += $2 } END { if (s) print s }'
}

# ---------------------------------------------------------------- cleanup
CLEANUP_BIN=0
TMP_CONTAINERS=()
cleanup() {
  local rc=$?
  if ((CLEANUP_BIN)); then rm -rf "${REPO:?}/$BIN_CONTEXT"; fi
  for ctr in "${TMP_CONTAINERS[@]}"; do buildah "${STORAGE_DRIVER_ARGS[@]}" rm "$ctr" >/dev/null 2>&1 || true; done
  if ((rc != 0)); then
    printf '%s: failed (exit %d)%s\n' "$PROG" "$rc" "${LOG:+; full build output: $LOG}" >&2
    if [[ $TOOL == buildah && -n ${CONTAINERS_BEFORE+x} ]]; then
      local left
      left=$(buildah "${STORAGE_DRIVER_ARGS[@]}" containers -q 2>/dev/null | grep -vxF -e "${CONTAINERS_BEFORE:-none}" || true)
      [[ -z $left ]] || printf '%s: the interrupted build left working containers; remove them with: buildah%s rm %s\n' \
        "$PROG" "${DRIVER:+ --storage-driver $DRIVER}" "${left//$'\n'/ }" >&2
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- base images
# debian:bookworm-slim is Debian's minbase without documentation, manual
# pages and translations; the same dpkg filters as the official image.
SLIM_DPKG_OPTS=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/linda/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
)
# The apt settings of the official images: no downloaded .deb files, package
# caches or translations left in image layers.
APT_DOCKER_CONF='DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
APT::AutoRemove::SuggestsImportant "false";'
make_base_tarball() { # tag file
  local tag=$1 out=$2 extra=() t0 conf
  have mmdebstrap || die "debian:$tag is not in local storage and cannot be pulled, and mmdebstrap (which makes it offline from the Debian mirror) is not installed: apt-get install mmdebstrap"
  [[ $tag == *-slim ]] && extra=("${SLIM_DPKG_OPTS[@]}")
  mkdir -p "$(dirname "$out")"
  rm -rf "$out" "$out.part"
  # mmdebstrap runs the hook with the root directory as $1. Its own cleanup
  # runs later and, with docker-clean in place, no longer finds apt's *.bin
  # caches, so the hook deletes them.
  # shellcheck disable=SC2016
  local chmod_hook='chmod 0644 "$1/etc/apt/apt.conf.d/docker-clean" && rm -f "$1"/var/cache/apt/*.bin'
  conf=$(mktemp); printf '%s\n' "$APT_DOCKER_CONF" >"$conf"
  say "making debian:$tag with mmdebstrap (minbase; about a minute; log: $out.log)"
  t0=$(now)
  # merged-usr: /bin, /lib, /sbin as symlinks into /usr, set up the way
  # debootstrap (and so the official images) does, instead of installing
  # usrmerge, which would pull in perl (~50 MB).
  if ! mmdebstrap --variant=minbase --format=tar --skip=output/dev \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${extra[@]}" \
      --customize-hook="upload $conf /etc/apt/apt.conf.d/docker-clean" \
      --customize-hook="$chmod_hook" \
      bookworm "$out.part" \
      "deb $DEBIAN_MIRROR bookworm main" \
      "deb $DEBIAN_MIRROR bookworm-updates main" \
      "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" >"$out.log" 2>&1; then
    tail -n 15 "$out.log" >&2
    rm -rf "$out.part" "$conf"
    die "mmdebstrap failed (above; full log $out.log). It needs root (or unprivileged user namespaces) and the Debian mirror $DEBIAN_MIRROR (set DEBIAN_MIRROR to use another)"
  fi
  rm -f "$conf"
  mv "$out.part" "$out"
  say "debian:$tag: $(fmt_bytes "$(stat -c %s "$out")") tarball in $(fmt_secs $(($(now) - t0))), cached as $out"
}
import_base() { # tag tarball
  local tag=$1 tar=$2 name ctr
  local path_env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  local label=io.kruntimes.base=mmdebstrap-minbase
  case $TOOL in
    buildah)
      name=localhost/debian:$tag
      ctr=$(c from --quiet scratch); TMP_CONTAINERS+=("$ctr")
      c add --quiet "$ctr" "$tar" / >/dev/null
      c config --env "$path_env" --cmd '["bash"]' --label "$label" "$ctr"
      c commit --quiet --rm "$ctr" "$name" >/dev/null
      TMP_CONTAINERS=() ;;
    podman)
      name=localhost/debian:$tag
      c import --quiet --change "ENV $path_env" --change 'CMD ["bash"]' --change "LABEL $label" "$tar" "$name" >/dev/null ;;
    docker)
      name=debian:$tag
      docker import --change "ENV $path_env" --change 'CMD ["bash"]' --change "LABEL $label" "$tar" "$name" >/dev/null ;;
  esac
  say "debian:$tag: imported as $name"
}
ensure_base() { # tag
  local tag=$1 tar
  tar=$CACHE_DIR/debian-$1-$(uname -m).tar
  if ((!REFRESH_BASE)) && image_exists "debian:$tag"; then
    say "base debian:$tag: in local storage"
    return
  fi
  if ((!NO_PULL && !REFRESH_BASE)); then
    say "base debian:$tag: not in local storage; trying to pull docker.io/library/debian:$tag"
    if pull_base "$tag"; then
      say "base debian:$tag: pulled"
      return
    fi
    say "base debian:$tag: cannot be pulled (no registry reachable?)"
  fi
  if ((REFRESH_BASE)) || [[ ! -s $tar ]]; then
    make_base_tarball "$tag" "$tar"
  else
    say "base debian:$tag: reusing $tar from $(date -r "$tar" +%F) (--refresh-base makes a new one)"
  fi
  import_base "$tag" "$tar"
}
pull_base() {
  case $TOOL in
    buildah) timeout 300 buildah "${STORAGE_DRIVER_ARGS[@]}" pull --quiet "docker.io/library/debian:$1" >/dev/null 2>&1 ;;
    podman) timeout 300 podman "${STORAGE_DRIVER_ARGS[@]}" pull --quiet "docker.io/library/debian:$1" >/dev/null 2>&1 ;;
    docker) timeout 300 docker pull --quiet "debian:$1" >/dev/null 2>&1 ;;
  esac
}

# ---------------------------------------------------------------- binaries
find_binary() { # dir target -> path
  local dir=$1 t=$2 p
  for p in "$dir/${BUILD_PATH[$t]}" "$dir/$(basename "${BUILD_PATH[$t]}")"; do
    if [[ -f $p && -x $p ]]; then printf '%s' "$p"; return 0; fi
  done
  return 1
}
stage_binaries() {
  local dir=$1 t src dst missing=()
  [[ -d $dir ]] || die "--binaries $dir: not a directory"
  for t in "${TARGETS[@]}"; do
    find_binary "$dir" "$t" >/dev/null || missing+=("${BUILD_PATH[$t]}")
  done
  ((${#missing[@]} == 0)) || die "--binaries $dir: missing ${missing[*]} (give a meson build directory, or a directory with the binaries by file name; build them with: ninja -C $dir ${missing[*]})"
  [[ ! -e $BIN_CONTEXT ]] || die "$REPO/$BIN_CONTEXT exists (left by an interrupted run, or placed by hand); remove it and re-run"
  mkdir -p "$BIN_CONTEXT"
  CLEANUP_BIN=1
  have strip || warn "strip (binutils) is not installed: the binaries go into the images unstripped, with their debug information"
  for t in "${TARGETS[@]}"; do
    src=$(find_binary "$dir" "$t")
    [[ $(head -c 4 "$src" | od -An -c | tr -d ' ') == 177ELF ]] || die "$src is not an ELF binary"
    dst=$BIN_CONTEXT/$(basename "${BUILD_PATH[$t]}")
    if have strip; then strip --strip-unneeded -o "$dst" "$src"; else cp "$src" "$dst"; fi
    chmod 0755 "$dst"
  done
  say "binaries from $dir: $(du -sh "$BIN_CONTEXT" | cut -f1) after stripping, in $BIN_CONTEXT/"
}

# ---------------------------------------------------------------- main
T_START=$(now)
LOG=$(mktemp "${TMPDIR:-/tmp}/kruntimes-build-images.XXXXXX.log")
if [[ $TOOL != docker ]]; then
  choose_storage_driver
  say "tool: $TOOL $($TOOL --version | awk '{print $3}'), storage driver $DRIVER ($DRIVER_WHY)"
  if [[ $TOOL == buildah ]]; then CONTAINERS_BEFORE=$(c containers -q 2>/dev/null || true); fi
else
  say "tool: $(docker --version)"
fi

if [[ -n $BINARIES_DIR ]]; then
  MODE=prebuilt
  stage_binaries "$(cd "$BINARIES_DIR" 2>/dev/null && pwd || echo "$BINARIES_DIR")"
else
  MODE=source
fi
say "images: ${TARGETS[*]} (version $VERSION), binaries: $([[ $MODE == source ]] && echo "compiled in the build stage" || echo "prebuilt, from $BINARIES_DIR")"

# Base images: only those the selected path needs.
[[ $MODE == source ]] && ensure_base bookworm
ensure_base bookworm-slim

BUILD_ARGS=(-f "$DOCKERFILE" --build-arg "BINARIES=$MODE")
((NO_CACHE)) && BUILD_ARGS+=(--no-cache)
case $TOOL in
  buildah) BUILD_CMD=(buildah "${STORAGE_DRIVER_ARGS[@]}" bud --isolation chroot --layers "${BUILD_ARGS[@]}") ;;
  podman) BUILD_CMD=(podman "${STORAGE_DRIVER_ARGS[@]}" build --isolation chroot --layers "${BUILD_ARGS[@]}") ;;
  docker) BUILD_CMD=(env DOCKER_BUILDKIT=1 docker build --progress plain "${BUILD_ARGS[@]}") ;;
esac
if [[ $MODE == source ]]; then
  say "the first image runs the build stage: installs the toolchain (a few minutes), then compiles the"
  say "  eight binaries (about as long as a clean scripts/build.sh; less with a warm ccache);"
  say "  the other images reuse its cached layers"
fi
say "build output is also written to $LOG"

declare -A SECS
i=0
for t in "${TARGETS[@]}"; do
  i=$((i + 1))
  ref=$(image_ref "$t")
  printf '\n%s: ==> [%d/%d] %s  (elapsed %s)\n' "$PROG" "$i" "${#TARGETS[@]}" "$ref" "$(fmt_secs $(($(now) - T_START)))"
  t0=$(now)
  if ! "${BUILD_CMD[@]}" --target "$t" -t "$ref" . 2>&1 | tee -a "$LOG"; then
    die "building $ref failed (output above and in $LOG). A missing library shows as 'not found' in the ldd step; with --binaries, the binaries must come from a Debian 12 build without sanitizers"
  fi
  SECS[$t]=$(($(now) - t0))
done
T_BUILT=$(now)

# ---------------------------------------------------------------- exports
if [[ -n $EXPORT_OCI ]]; then
  echo
  for t in "${TARGETS[@]}"; do
    ref=$(image_ref "$t") f=$EXPORT_OCI/kruntimes-$t-$VERSION.tar
    say "exporting $ref to $f"
    rm -f "$f"
    case $TOOL in
      buildah|podman) c push --quiet "$ref" "oci-archive:$f:docker.io/kruntimes/$t:$VERSION" >>"$LOG" 2>&1 ;;
      docker) docker save -o "$f" "$ref" ;;
    esac
  done
fi
if [[ -n $EXPORT_DOCKER ]]; then
  refs=()
  for t in "${TARGETS[@]}"; do refs+=("$(image_ref "$t")"); done
  say "exporting ${#refs[@]} images to $EXPORT_DOCKER (docker-archive)"
  rm -f "$EXPORT_DOCKER"
  case $TOOL in
    buildah)
      if have podman; then podman "${STORAGE_DRIVER_ARGS[@]}" save --quiet --multi-image-archive --format docker-archive -o "$EXPORT_DOCKER" "${refs[@]}"
      else c push --quiet "${refs[0]}" "docker-archive:$EXPORT_DOCKER:${refs[0]}" >>"$LOG" 2>&1; fi ;;
    podman) c save --quiet --multi-image-archive --format docker-archive -o "$EXPORT_DOCKER" "${refs[@]}" ;;
    docker) docker save -o "$EXPORT_DOCKER" "${refs[@]}" ;;
  esac
fi

# ---------------------------------------------------------------- report
echo
printf '%-40s %12s %10s\n' IMAGE SIZE BUILD
refs=()
for t in "${TARGETS[@]}"; do
  ref=$(image_ref "$t")
  refs+=("$ref")
  s=$(image_size "$ref" 2>/dev/null || echo '?')
  [[ $s =~ ^[0-9]+$ ]] && s=$(fmt_bytes "$s")
  printf '%-40s %12s %10s\n' "kruntimes/$t:$VERSION" "$s" "$(fmt_secs "${SECS[$t]}")"
done
d=$(distinct_size "${refs[@]}" 2>/dev/null || true)
[[ -n $d ]] && printf '%-40s %12s\n' "all, each shared layer once" "$(fmt_bytes "$d")"
if [[ -n $EXPORT_OCI ]]; then
  printf '%-40s %12s\n' "OCI archives in $EXPORT_OCI" "$(fmt_bytes "$(du -cb "$EXPORT_OCI"/kruntimes-*-"$VERSION".tar | tail -n 1 | cut -f1)")"
fi
if [[ -n $EXPORT_DOCKER ]]; then
  printf '%-40s %12s\n' "docker-archive $(basename "$EXPORT_DOCKER")" "$(fmt_bytes "$(stat -c %s "$EXPORT_DOCKER")")"
fi
echo
say "built ${#TARGETS[@]} images in $(fmt_secs $((T_BUILT - T_START))) (binaries: $MODE), total $(fmt_secs $(($(now) - T_START)))"
if [[ $TOOL != docker ]]; then
  say "list them: $TOOL${DRIVER:+ --storage-driver $DRIVER} images | grep kruntimes"
fi
if [[ -n $EXPORT_OCI ]]; then
  say "import on each k3s node: for f in $EXPORT_OCI/kruntimes-*-$VERSION.tar; do sudo k3s ctr images import \"\$f\"; done"
fi
if [[ -n $EXPORT_DOCKER ]]; then
  say "load it with one of: docker load -i $EXPORT_DOCKER; k3d image import -c CLUSTER $EXPORT_DOCKER; sudo k3s ctr images import $EXPORT_DOCKER"
fi
rm -f "$LOG"
LOG=

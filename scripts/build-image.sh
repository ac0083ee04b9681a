#!/usr/bin/env bash
# Build (and optionally push) the mimecast-siem container image with whichever engine exists:
# docker (BuildKit), podman or buildah. The default name is the Helm chart's default image.
#
#   bash scripts/build-image.sh                                   # ghcr.io/mimecast-siem/mimecast-siem:<version>
#   bash scripts/build-image.sh --push registry.example.com/secops/mimecast-siem
#   bash scripts/build-image.sh --tag 0.1.0-rc1 --platform linux/arm64 --engine podman
#
# Options:
#   --push              push the tag after building (log in to the registry first)
#   --tag TAG           image tag (default: the package version from pyproject.toml = the chart's appVersion)
#   --engine NAME       docker, podman or buildah (default: the first one found, in that order)
#   --platform P        target platform, e.g. linux/amd64 (default: the engine's)
#   --dry-run           print the commands, run nothing
#   REPOSITORY          image repository (default: the chart's image.repository)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPOSITORY="ghcr.io/mimecast-siem/mimecast-siem"
TAG=""
ENGINE=""
PLATFORM=""
PUSH=0
DRY_RUN=0

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --push) PUSH=1 ;;
        --tag) TAG="${2:?--tag needs a value}"; shift ;;
        --engine) ENGINE="${2:?--engine needs a value}"; shift ;;
        --platform) PLATFORM="${2:?--platform needs a value}"; shift ;;
        --dry-run) DRY_RUN=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "build-image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) REPOSITORY="$1" ;;
    esac
    shift
done

if [ -z "$TAG" ]; then
    TAG="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n 1)"
    [ -n "$TAG" ] || { echo "build-image.sh: no version in pyproject.toml; pass --tag" >&2; exit 2; }
fi

if [ -z "$ENGINE" ]; then
    for candidate in docker podman buildah; do
        if command -v "$candidate" >/dev/null 2>&1; then ENGINE="$candidate"; break; fi
    done
fi
case "$ENGINE" in
    docker | podman | buildah) ;;
    "") echo "build-image.sh: no container engine found; install docker, podman or buildah" >&2; exit 1 ;;
    *) echo "build-image.sh: --engine must be docker, podman or buildah (got $ENGINE)" >&2; exit 2 ;;
esac

IMAGE="$REPOSITORY:$TAG"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
build=()
case "$ENGINE" in
    docker) build=(docker build) ;;
    podman) build=(podman build --format docker) ;;
    buildah) build=(buildah bud --format docker) ;;
esac
build+=(--file "$ROOT/Dockerfile" --tag "$IMAGE"
        --label "org.opencontainers.image.version=$TAG" --label "org.opencontainers.image.revision=$REVISION")
if [ -n "$PLATFORM" ]; then build+=(--platform "$PLATFORM"); fi
build+=("$ROOT")

push=()
if [ "$PUSH" = 1 ]; then
    case "$ENGINE" in
        docker) push=(docker push "$IMAGE") ;;
        podman) push=(podman push "$IMAGE") ;;
        buildah) push=(buildah push "$IMAGE" "docker://$IMAGE") ;;
    esac
fi

run() {
    echo "+ $*" >&2
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

if [ "$ENGINE" = docker ]; then export DOCKER_BUILDKIT=1; fi
run "${build[@]}"
if [ ${#push[@]} -gt 0 ]; then run "${push[@]}"; fi
echo "$IMAGE"

# shellcheck shell=bash
# Shared helpers for scripts/setup, scripts/test, scripts/demo. Source it, don't run it.
#
# Layout it defines (all inside the repo, all git-ignored):
#   .venv/                                     Python tools (scripts/setup fills it)
#   .build/collections/ansible_collections/peerpull/spegel -> the repo (symlink),
#                                              so playbooks resolve peerpull.spegel.*
#   .build/sanity/ansible_collections/peerpull/spegel/
#                                              a clean copy for `ansible-test sanity`
#   .build/integration/ansible_collections/peerpull/spegel/
#                                              a clean copy for `ansible-test integration`

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV="$REPO/.venv"
BUILD="$REPO/.build"
COLLECTION_NAMESPACE=peerpull
COLLECTION_NAME=spegel

# Playbook runs (integration tests, demo) find the collection through this path; the
# ansible defaults stay after it so separately installed collections are still found.
export ANSIBLE_COLLECTIONS_PATH="$BUILD/collections:${HOME:-/root}/.ansible/collections:/usr/share/ansible/collections"
COLLECTION_LINK="$BUILD/collections/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"

# The Go toolchain scripts/setup fetches from the Go module proxy when the machine has no Go
# new enough (Debian 12's is 1.19).
GO_TOOLCHAIN_VERSION=1.26.8
GO_TOOLCHAIN="${PEERPULL_CACHE:-/var/cache/peerpull}/go-toolchain/go$GO_TOOLCHAIN_VERSION"

# Put that toolchain first on PATH when setup fetched it (no-op otherwise). use_venv calls it
# too: a stage after setup's sees what setup fetched in its own process.
use_fetched_go() {
    [ -x "$GO_TOOLCHAIN/bin/go" ] || return 0
    case ":$PATH:" in
        *":$GO_TOOLCHAIN/bin:"*) ;;
        *) export PATH="$GO_TOOLCHAIN/bin:$PATH" ;;
    esac
}
use_fetched_go

banner() {
    printf '\n==== %s ====\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Put the project's venv first on PATH (no-op if scripts/setup has not run yet).
use_venv() {
    [ -x "$VENV/bin/python" ] || die "no $VENV: run scripts/setup first"
    use_fetched_go
    export VIRTUAL_ENV="$VENV"
    case ":$PATH:" in
        *":$VENV/bin:"*) ;;
        *) export PATH="$VENV/bin:$PATH" ;;
    esac
}

# .build/collections/ansible_collections/peerpull/spegel -> repo
ensure_collection_link() {
    mkdir -p "$(dirname -- "$COLLECTION_LINK")"
    if [ "$(readlink -- "$COLLECTION_LINK" 2>/dev/null)" != "$REPO" ]; then
        rm -rf -- "$COLLECTION_LINK"
        ln -s -- "$REPO" "$COLLECTION_LINK"
    fi
}

# Files that make up the collection as git sees it: tracked plus untracked-but-not-
# ignored, minus tracked files deleted from the work tree. NUL-separated.
collection_files() {
    local f
    git -C "$REPO" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            [ -e "$REPO/$f" ] || [ -L "$REPO/$f" ] || continue
            printf '%s\0' "$f"
        done
}

# Fresh copy of the collection at $1: ansible-test needs the path to
# end in ansible_collections/NAMESPACE/NAME, and must not see .venv, .build or caches.
make_clean_copy() {
    local copy=$1
    rm -rf -- "$copy"
    mkdir -p -- "$copy"
    collection_files | tar -C "$REPO" -cf - --null --no-recursion --files-from=- |
        tar -C "$copy" -xf -
    # The copy lives inside the repo's work tree (in an ignored dir), so without a git
    # repo of its own ansible-test would ask the outer repo and find no files at all.
    git -C "$copy" init -q
}

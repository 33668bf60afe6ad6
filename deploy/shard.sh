#!/bin/sh
# git-remote-daemon-shard: run as a StatefulSet replica of the shared daemon. Picks this replica's
# share of the repositories by hash, makes and registers them, then execs the shared daemon
# (`git-remote-daemon --service --all`). docs/scale.md, "Sharding across replicas".
#
# Environment:
#   SHARDS          how many replicas there are (the StatefulSet's replicas; required)
#   SHARD           this replica's number; default: the ordinal at the end of the pod's hostname
#                   (git-remote-daemon-2 -> 2)
#   REPOS_FILE      lines "<name> <url>": every repository of every replica; "#" starts a comment
#                   (default /etc/git-remote-daemon/repos)
#   REPOS_DIR       where this replica keeps its repositories (default /repos)
#   SSH_SECRET_DIR  files copied into ~/.ssh with mode 0600 (a Secret's keys, known_hosts,
#                   config), since ssh refuses a key that others may read (default
#                   /etc/git-remote-daemon/ssh; skipped when absent)
#   METRICS_DIR     when set, each repository's remotedaemon.metricsFile is METRICS_DIR/<name>.prom
#
# A repository belongs to replica cksum(<name>) mod SHARDS: every replica computes the same split
# from the same list, with nothing shared between them. It is created with `git init` and its
# origin, not cloned: the daemon's first catch-up fetches it, and a remote that is down is retried
# by the daemon (and reported by `status --check`) instead of failing the pod's start.
set -eu

fail() { echo "git-remote-daemon-shard: $*" >&2; exit 1; }

: "${SHARDS:?set SHARDS to the number of replicas}"
: "${REPOS_FILE:=/etc/git-remote-daemon/repos}"
: "${REPOS_DIR:=/repos}"
: "${SSH_SECRET_DIR:=/etc/git-remote-daemon/ssh}"
host=${HOSTNAME:-$(hostname)}
: "${SHARD:=${host##*-}}"
case $SHARDS in '' | *[!0-9]* | 0) fail "SHARDS must be a positive number, not '$SHARDS'" ;; esac
case $SHARD in '' | *[!0-9]*) fail "cannot tell this replica's number from the hostname '$host'; set SHARD" ;; esac
[ "$SHARD" -lt "$SHARDS" ] || fail "replica $SHARD of $SHARDS: SHARDS is less than the StatefulSet's replicas"
[ -r "$REPOS_FILE" ] || fail "cannot read the list of repositories $REPOS_FILE"

if [ -d "$SSH_SECRET_DIR" ]; then
  mkdir -p "$HOME/.ssh"
  chmod 0700 "$HOME/.ssh"
  for f in "$SSH_SECRET_DIR"/*; do
    [ -f "$f" ] || continue
    cp "$f" "$HOME/.ssh/${f##*/}"
    chmod 0600 "$HOME/.ssh/${f##*/}"
  done
fi

shard_of() { printf '%s' "$1" | cksum | { read -r sum _rest && echo $((sum % SHARDS)); }; }

mine=0
while read -r name url _rest || [ -n "${name:-}" ]; do
  case $name in '' | '#'*) continue ;; esac
  case $name in .* | *[!A-Za-z0-9._-]*) fail "repository name '$name': use letters, digits, '.', '_', '-' (not first '.')" ;; esac
  [ -n "$url" ] || fail "repository '$name' has no url in $REPOS_FILE"
  [ "$(shard_of "$name")" -eq "$SHARD" ] || continue
  dir=$REPOS_DIR/$name
  if [ ! -d "$dir/.git" ]; then
    git init -q "$dir"
    git -C "$dir" remote add origin "$url"
  else
    git -C "$dir" remote set-url origin "$url"
  fi
  if [ -n "${METRICS_DIR:-}" ]; then git -C "$dir" config remotedaemon.metricsFile "$METRICS_DIR/$name.prom"; fi
  git-remote-daemon register "$dir" >/dev/null
  mine=$((mine + 1))
done <"$REPOS_FILE"

echo "git-remote-daemon-shard: replica $SHARD of $SHARDS serves $mine repositories"
exec git-remote-daemon --service --all

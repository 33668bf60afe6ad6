#!/bin/sh
# git-ssh-tunnel.sh: the ssh command git runs for a fetch while a git-remote-daemon worker holds an
# ssh connection to that host. Instead of opening a second ssh connection it hands the remote
# command to the worker over a Unix socket; the worker runs it on its held connection.
#
# Set up by workers/ssh/tunnel.ts as GIT_SSH_COMMAND=<this script> (git then runs it without a
# shell in between) or "exec sh <this script>", with GIT_SSH_VARIANT=ssh and
#   GIT_REMOTE_DAEMON_TUNNEL       the worker's private directory (holds the socket)
#   GIT_REMOTE_DAEMON_TUNNEL_HOST  the host argument git passes for the held connection (user@host)
#   GIT_REMOTE_DAEMON_TUNNEL_PORT  the port git passes with -p for it, or empty
# git appends: [-o SendEnv=GIT_PROTOCOL] [-p <port>] [-4|-6] <user@host> <command>
#
# Plain POSIX sh, cat and socat: a Node helper would cost ~60 ms of start-up per fetch.
#
# Wire, helper -> worker on one stream connection:
#   "grd-tunnel-1\0<pid>\0<GIT_PROTOCOL>\0<command>\0" then the command's stdin
# worker -> helper: the command's stdout; before it ends the stream the worker writes
#   <dir>/<pid>.status  (the exit status, one line) and <dir>/<pid>.stderr (the remote's stderr, if any)
# which this script then reads, so exit status and stderr reach git as they would through ssh.

dir=${GIT_REMOTE_DAEMON_TUNNEL-} want_host=${GIT_REMOTE_DAEMON_TUNNEL_HOST-} want_port=${GIT_REMOTE_DAEMON_TUNNEL_PORT-}

# git's arguments -> $port $host $command (in a function so that "$@" stays intact for the fallback)
parse() {
  port= host= command=
  while [ $# -gt 2 ]; do
    case $1 in
      -p) port=$2; shift 2 ;;
      -o|-l) shift 2 ;;
      -4|-6|-T) shift ;;
      *) break ;;
    esac
  done
  [ $# -eq 2 ] || return 1
  host=$1 command=$2
}

if ! parse "$@" || [ "$host" != "$want_host" ] || [ "$port" != "$want_port" ] || [ -z "$dir" ]; then
  # Not the connection the worker holds (a submodule on another host, say): do what git would
  # have done without us.
  exec sh -c "${GIT_REMOTE_DAEMON_FALLBACK_SSH:-ssh}"' "$@"' git-ssh-tunnel "$@"
fi
if [ ! -S "$dir/sock" ]; then
  # The held connection is gone (lost, paused, or the network is down): fail like ssh would,
  # rather than open a new connection behind the daemon's back. It fetches again on reconnecting.
  echo "git-remote-daemon: the connection to $host is closed" >&2
  exit 255
fi

status_file="$dir/$$.status"
stderr_file="$dir/$$.stderr"

# Background jobs get /dev/null as stdin unless it is saved first; stdout moves to fd 3 so that
# this shell does not hold git's stdout open while it waits (git must see EOF when the relay ends).
# socat rather than `nc -U`: nc keeps git's stdout open after the worker ends the stream until git
# closes stdin, and git waits for that EOF when the remote command failed (a deadlock). With a dual
# address socat closes stdout the moment the worker ends the stream ("shut-close"), and after git
# closes stdin first (a push) it keeps reading the reply (-t: up to a day).
exec 4<&0 3>&1 >/dev/null
{ printf 'grd-tunnel-1\000%s\000%s\000%s\000' "$$" "${GIT_PROTOCOL-}" "$command"; exec cat <&4; } 3>&- |
  socat -t 86400 'FD:0!!FD:1,shut-close' "UNIX-CONNECT:$dir/sock" >&3 3>&- 4<&- &
exec 3>&- 4<&-
wait

status=255
if [ -r "$status_file" ]; then
  read -r status <"$status_file" || status=255
fi
if [ -s "$stderr_file" ]; then
  cat "$stderr_file" >&2
fi
exit "$status"

# bash completion for git-remote-daemon, both as `git-remote-daemon ...` and as `git remote-daemon ...`
# (git's own bash completion calls _git_remote_daemon for the latter).
#
# Install: source this file from ~/.bashrc, or copy it to
# ~/.local/share/bash-completion/completions/git-remote-daemon (bash-completion loads it on demand
# for git-remote-daemon; for `git remote-daemon`, source it from ~/.bashrc so that git's completion
# finds _git_remote_daemon).

_git_remote_daemon_commands="start stop status pause resume fetch reload log send notifychanges shell"
_git_remote_daemon_messages="PAUSE RESUME LOSTNET RELOAD FETCH STOP CHANGED"

_git_remote_daemon() {
  local cur="${COMP_WORDS[COMP_CWORD]}" i start=-1 command=""
  # Where our arguments begin: after `git-remote-daemon`, or after `git [options] remote-daemon`.
  for ((i = 0; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      git-remote-daemon | */git-remote-daemon | remote-daemon) start=$i; break ;;
    esac
  done
  ((start < 0)) && return 0
  for ((i = start + 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      -*) ;;
      *) command="${COMP_WORDS[i]}"; break ;;
    esac
  done
  local words=""
  case "$command" in
    "")
      if [[ $cur == -* ]]; then
        words="--foreground --service --verbose --force --version --help"
      else
        words="$_git_remote_daemon_commands"
      fi ;;
    status) words="--json --check --max-stale --help" ;;
    log) words="--follow --lines --help" ;;
    fetch) [[ $cur == -* ]] && words="--help" || words="$(git remote 2>/dev/null)" ;;
    send)
      # The message first; after FETCH, remote names.
      if [[ ${COMP_WORDS[COMP_CWORD - 1]} == send ]]; then
        words="$_git_remote_daemon_messages"
      elif [[ ${COMP_WORDS[start + 2]} == FETCH ]]; then
        words="$(git remote 2>/dev/null)"
      fi ;;
    notifychanges | shell) COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
    *) words="--help" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}

complete -F _git_remote_daemon git-remote-daemon

// What keeps every git this transport starts (ls-remote, credential, the session's fetch) from
// asking a person: no terminal prompt, no askpass program (an empty GIT_ASKPASS makes git skip
// core.askPass and SSH_ASKPASS too), no Git Credential Manager dialog, and newer git's own switch.

export const NO_PROMPT_ENV: Record<string, string> = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: '',
  SSH_ASKPASS: '',
  GCM_INTERACTIVE: 'never',
};

export const NO_PROMPT_ARGS: readonly string[] = ['-c', 'credential.interactive=false'];

// What to tell the user when the server ran no notifier: which kind of server refused the command
// (from the exit code and what it wrote on stderr) and what to do for that kind, with the section
// of docs/server.md that has the recipe. Installing git-remote-daemon is suggested only when the
// command was not found: behind gitolite, git-shell or git-annex-shell it may well be installed,
// and the server's own shell is what said no.

/** Who refused the notifier command, as far as its answer tells. */
export type Refusal = 'not-found' | 'gitolite' | 'git-shell' | 'git-annex-shell' | 'restricted-shell' | 'other';

/** Reads the server's answer: exit code and stderr of the notifier command. Never throws. */
export function classifyRefusal(exitCode: number | null | undefined, stderr: string): Refusal {
  // git-annex-shell hands commands it does not know to git-shell and adds its own line.
  if (/git-annex-shell: git-shell failed/.test(stderr)) return 'git-annex-shell';
  if (/unknown git\/gitolite command|FATAL: suspicious characters|FATAL: .* DENIED/i.test(stderr)) return 'gitolite';
  if (/^fatal: unrecognized command /m.test(stderr)) return 'git-shell';
  if (/^git-remote-daemon shell: /m.test(stderr)) return 'restricted-shell';
  if (exitCode === 127 || /(command not found|: not found|No such file or directory)\s*$/m.test(stderr)) return 'not-found';
  return 'other';
}

/** What to do, for the WARNING: one sentence naming the docs section. */
export function fallbackAdvice(refusal: Refusal, notifierSetting: string): string {
  switch (refusal) {
    case 'not-found':
      return `Install git-remote-daemon on the server, or set ${notifierSetting} to a notifier it has (e.g. "git-annex-shell notifychanges"); see docs/server.md, "Server recipes"`;
    case 'gitolite':
      return `the server is gitolite, which runs only the commands its admin enabled: add the notifier command to gitolite (docs/server.md, "Behind gitolite")`;
    case 'git-shell':
      return `the server's login shell is git-shell, which runs only what is in ~/git-shell-commands: add the notifychanges wrapper there (docs/server.md, "Behind git-shell")`;
    case 'git-annex-shell':
      return `the server's login command is git-annex-shell: set ${notifierSetting} to "git-annex-shell notifychanges" (the server repository needs \`git annex init\`; docs/server.md, "Behind git-annex-shell")`;
    case 'restricted-shell':
      return `git-remote-daemon shell on the server refused it (docs/server.md, "The restricted shell")`;
    case 'other':
      return `the server did not run the notifier; see docs/server.md, "Server recipes", for the kind of server it is, or set ${notifierSetting}`;
  }
}

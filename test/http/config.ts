// A git config as `git config --list -z` would give it, from key/value pairs: for the http plugin's
// tests of what it makes of the config.

import { parseConfigList } from '../../shared/gitconfig.js';

export const config = (entries: [string, string][]) => parseConfigList(entries.map(([k, v]) => `${k}\n${v}\0`).join(''));

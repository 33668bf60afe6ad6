// src/hub/paths.ts: where the shared daemon keeps its state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubDir } from '../../src/hub/paths.js';

test("the shared daemon's directory: XDG_STATE_HOME when absolute, else ~/.local/state", () => {
  assert.equal(hubDir({ HOME: '/h' }), '/h/.local/state/git-remote-daemon');
  assert.equal(hubDir({ HOME: '/h', XDG_STATE_HOME: '/s' }), '/s/git-remote-daemon');
  assert.equal(hubDir({ HOME: '/h', XDG_STATE_HOME: 'relative' }), '/h/.local/state/git-remote-daemon');
});

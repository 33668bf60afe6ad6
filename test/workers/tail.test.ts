import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TailBuffer } from '../../workers/tail.js';

test('a tail buffer keeps exactly the last maxChars of what was pushed, however it was cut', () => {
  let all = '';
  const tail = new TailBuffer(100);
  for (let i = 0; i < 2000; i++) {
    const chunk = `${i}:${'ab'.repeat(i % 37)}\n`;
    all += chunk;
    tail.push(chunk);
    if (i % 97 === 0) assert.equal(tail.text(), all.slice(-100));
  }
  assert.equal(tail.text(), all.slice(-100));
  const one = new TailBuffer(10);
  one.push('x'.repeat(1_000_000));
  one.push('0123');
  assert.equal(one.text(), 'xxxxxx0123');
  assert.equal(new TailBuffer(10).text(), '');
});

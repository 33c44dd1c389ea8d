/** Secrets are redacted where they stand as values, never as substrings of the prose around them. */
import { describe, expect, it } from 'vitest';
import { scrub } from './errors.js';

describe('scrub', () => {
  it('leaves prose alone when a password is a common word', () => {
    const prose = 'wrong password for the repository at local:/tmp/a-repo: check FERRY_PASSWORD or --password-file';
    for (const word of ['wrong', 'the', 'repository', 'a']) expect(scrub(prose, [word])).toBe(prose);
  });

  it('redacts short secrets as values: fields, environment, argv, URLs, quotes, the whole text', () => {
    expect(scrub('restic failed: FERRY_PASSWORD=the exit 1', ['the'])).toBe('restic failed: FERRY_PASSWORD=*** exit 1');
    expect(scrub('ran restic --password=a --repo x', ['a'])).toBe('ran restic --password=*** --repo x');
    expect(scrub('ran restic --password a --repo x', ['a'])).toBe('ran restic --password *** --repo x');
    expect(scrub('GET https://user:wrong@host/bucket failed', ['wrong'])).toBe('GET https://user:***@host/bucket failed');
    expect(scrub('{"password":"repository"} was rejected', ['repository'])).toBe('{"password":"***"} was rejected');
    expect(scrub("the token 'the' is malformed", ['the'])).toBe("the token '***' is malformed");
    expect(scrub('wrong', ['wrong'])).toBe('***');
  });

  it('redacts long secrets (keys, tokens) wherever they occur, longest first', () => {
    const key = '0123456789abcdef0123456789abcdef';
    expect(scrub(`bad key ${key}x and ${key}`, [key.slice(0, 16), key])).toBe('bad key ***x and ***');
  });
});

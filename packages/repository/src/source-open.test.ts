import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openSource, openSourceSync } from './source-open.js';

// A file this process does not own: O_NOATIME on it is EPERM for anyone without CAP_FOWNER.
const NOT_OWNED = '/etc/passwd';
const built = fileURLToPath(new URL('../dist/source-open.js', import.meta.url));

describe('openSource', () => {
  it('opens a file it may not open with O_NOATIME by falling back to a plain read-only open', async () => {
    if (process.getuid?.() === 0) {
      // Root may use O_NOATIME anywhere: prove the fallback as an unprivileged user.
      const script = `import(${JSON.stringify(built)}).then(async (m) => { const fd = m.openSourceSync(Buffer.from(${JSON.stringify(NOT_OWNED)})); const afd = await m.openSource(Buffer.from(${JSON.stringify(NOT_OWNED)})); console.log(fd >= 0 && afd >= 0 ? 'opened' : 'no fd'); })`;
      const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
      expect(out.trim()).toBe('opened');
    } else {
      const fd = openSourceSync(Buffer.from(NOT_OWNED));
      const afd = await openSource(Buffer.from(NOT_OWNED));
      expect(fstatSync(fd).size).toBe(statSync(NOT_OWNED).size);
      closeSync(fd);
      closeSync(afd);
    }
  });

  it('does not follow a symlink and reports a missing file as ENOENT', async () => {
    expect(() => openSourceSync(Buffer.from('/proc/self/exe'))).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    await expect(openSource(Buffer.from('/nonexistent/ferry-file'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

/**
 * Exclude rules for backups: globs from --exclude (relative to the backed-up root) and
 * from ignore files found in the tree (relative to the directory holding the file).
 * A pattern without '/' matches a name at any depth, as in .gitignore; `**` crosses
 * directories, `*` and `?` do not.
 */
export class ExcludeRules {
  private constructor(private readonly rules: readonly { base: string; re: RegExp }[]) {}

  static from(patterns: readonly string[], base = ''): ExcludeRules {
    return new ExcludeRules(patterns.map((p) => ({ base, re: globToRegExp(p) })).filter((r) => r.re.source !== '(?:)'));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Rules of an ignore file found in directory `dir` (relative path), added to these. */
  withIgnoreFile(dir: string, text: string): ExcludeRules {
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    return new ExcludeRules([...this.rules, ...lines.map((l) => ({ base: dir, re: globToRegExp(l) }))]);
  }

  /** `path` is relative to the backed-up root, '/'-separated. */
  matches(path: string): boolean {
    for (const { base, re } of this.rules) {
      if (base !== '' && !path.startsWith(base + '/')) continue;
      if (re.test(base === '' ? path : path.slice(base.length + 1))) return true;
    }
    return false;
  }
}

export function globToRegExp(glob: string): RegExp {
  let g = glob.trim().replace(/\/+$/, '');
  if (g === '') return new RegExp('');
  const anchored = g.includes('/');
  g = g.replace(/^\//, '');
  let out = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*' && g[i + 1] === '*') {
      out += g[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += g[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = g.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += '[' + g.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(anchored ? `^${out}$` : `(?:^|/)${out}$`);
}

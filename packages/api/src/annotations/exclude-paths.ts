/**
 * Path excludes inside a volume, shared by Backup.spec.excludes, the pod annotation
 * backup.ferry.dev/exclude-paths and the API. One meaning for both movers: a pattern
 * without "/" matches a name at any depth; one with "/" is anchored at the volume root
 * ("/cache" = "cache/.." only at the top); "*" and "?" stay within a name, "**" crosses
 * directories, "[abc]" is a class. A matched directory is skipped with everything below.
 */

export const EXCLUDE_PATH_LIMITS = { maxLength: 256, maxItems: 100 } as const;

/** RE2-compatible (CRD) pattern: no commas (the annotation's separator), no control characters. */
export const EXCLUDE_PATH_PATTERN = '^[^,\\x00-\\x1f]+$';
const ALLOWED = new RegExp(EXCLUDE_PATH_PATTERN);

export const EXCLUDE_PATH_EXPECTED =
  'comma-separated path globs relative to the volume root, e.g. "cache,/tmp/**,*.log" (no ".." segments, at most 256 characters each, at most 100)';

/** Why one pattern is refused, or undefined when it is valid. */
export function excludePathProblem(pattern: string): string | undefined {
  if (pattern.trim() === '' || pattern.trim() === '/') return 'a non-empty path glob';
  if (pattern.length > EXCLUDE_PATH_LIMITS.maxLength) return `a path glob of at most ${EXCLUDE_PATH_LIMITS.maxLength} characters`;
  if (!ALLOWED.test(pattern)) return 'a path glob without commas or control characters';
  if (pattern.split('/').includes('..')) return 'a path glob inside the volume (no ".." segments)';
  return undefined;
}

/** Problems of a whole list (as `index: reason`), empty when every pattern is valid. */
export function excludePathsProblems(patterns: readonly string[]): string[] {
  const out = patterns.flatMap((p, i) => {
    const problem = excludePathProblem(p);
    return problem ? [`excludes[${i}] ${JSON.stringify(p.slice(0, 64))}: expected ${problem}`] : [];
  });
  if (patterns.length > EXCLUDE_PATH_LIMITS.maxItems) out.push(`excludes: at most ${EXCLUDE_PATH_LIMITS.maxItems} patterns, got ${patterns.length}`);
  return out;
}

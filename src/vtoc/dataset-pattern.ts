/**
 * Data set name patterns as operators write them: `*` matches within one qualifier, `**` any number
 * of qualifiers (including none), `%` one character. `PROD.**` matches PROD and everything under it.
 */
import { UsageError } from '../errors/snaptape-error.js';

export function datasetPatternRegExp(pattern: string): RegExp {
  const upper = pattern.trim().toUpperCase();
  if (!/^[A-Z0-9@#$\-.*%]{1,44}$/.test(upper))
    throw new UsageError(`Cannot use data set pattern "${pattern}": letters, digits, @ # $ - . and the wildcards * ** %`);
  const qualifiers = upper.split('.');
  let source = '';
  qualifiers.forEach((q, i) => {
    const dot = i === 0 ? '' : '\\.';
    if (q === '**') {
      source += i === 0 ? '(?:[^.]+(?:\\.[^.]+)*)?' : '(?:\\.[^.]+)*';
      return;
    }
    source +=
      dot +
      q
        .replace(/[$#@-]/g, (c) => `\\${c}`)
        .replace(/\*/g, '[^.]*')
        .replace(/%/g, '[^.]');
  });
  return new RegExp(`^${source}$`);
}

export function matchesAnyPattern(name: string, patterns: readonly RegExp[]): boolean {
  return patterns.some((p) => p.test(name));
}

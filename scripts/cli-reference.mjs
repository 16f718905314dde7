#!/usr/bin/env node
// Writes docs/cli.md, the CLI reference: commander's own help text of every command and
// subcommand, walked from the whole program the CLI parses (createFullProgram in src/cli/main.ts), so the
// page says exactly what `snaptape … --help` says. test/docs/cli-reference.test.ts fails when the
// committed page is stale (`--check FILE`: exit 1 when FILE differs from what would be written).
// Usage: npm run build && node scripts/cli-reference.mjs [--check FILE]   (or npm run docs)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A fixed width and no colour: the page must not depend on the terminal that made it. */
const HELP_WIDTH = 100;

function* walk(command, path) {
  yield [path, command];
  for (const sub of command.commands) if (sub.name() !== 'help') yield* walk(sub, [...path, sub.name()]);
}

/** The markdown of docs/cli.md for `program` (a commander Command with every command registered). */
export function renderCliReference(program) {
  const entries = [...walk(program, [program.name()])];
  const lines = [
    '# snaptape command-line reference',
    '',
    'Generated from the help text of every command by `npm run docs` (scripts/cli-reference.mjs); do not edit by hand.',
    'See also [the side files](side-files.md) and [the mapping from Hercules and qemu-img](hercules-qemu-mapping.md).',
    '',
    ...entries.slice(1).map(([path]) => `- [\`${path.join(' ')}\`](#${path.join('-')})`),
  ];
  for (const [path, command] of entries) {
    command.configureOutput({
      getOutHelpWidth: () => HELP_WIDTH,
      getErrHelpWidth: () => HELP_WIDTH,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    });
    const help = command.helpInformation().trimEnd();
    lines.push('', `<a id="${path.join('-')}"></a>`, '', `## ${path.join(' ')}`, '', '```text', help, '```');
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { createFullProgram } = await import('../dist/cli/main.js');
  const text = renderCliReference(await createFullProgram());
  const at = process.argv.indexOf('--check');
  if (at >= 0) {
    const file = process.argv[at + 1];
    if (readFileSync(file, 'utf8') !== text) {
      console.error(`${file} is stale: run npm run docs`);
      process.exit(1);
    }
  } else {
    const out = fileURLToPath(new URL('../docs/cli.md', import.meta.url));
    writeFileSync(out, text);
    console.log(`wrote ${out}`);
  }
}

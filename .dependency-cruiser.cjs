/**
 * The import boundaries of snaptape (ARCHITECTURE.md, "Layers"). Each rule below is one arrow that
 * must never exist, with the reason. The layers, bottom up:
 *
 *   errors → base → geometry → ckd → image, subsystem → volume, tape, vtoc, catalog, library
 *     → engine, export, session, workload, vault → techniques, control-api → check → live → server
 *     → api → cli
 *
 * subsystem/ sits beside image/: a mapped volume's track directory over a shared pool is one more
 * store of units, like a CCKD or multi-file image; the Volume over it is built in volume/.
 *
 * A folder may import its own layer's siblings (except where a rule says otherwise) and anything
 * below it; never anything above. No arrow is excepted: `npm run depcheck` fails on any of them.
 */

/** Layer names as path patterns, so the rules read like the layer list above. */
const ABOVE_ERRORS =
  'base|geometry|ckd|image|volume|tape|vtoc|catalog|library|engine|vault|export|subsystem|session|workload|control-api|techniques|check|live|server|api';
const ABOVE_BASE =
  'geometry|ckd|image|volume|tape|vtoc|catalog|library|engine|vault|export|subsystem|session|workload|control-api|techniques|check|live|server|api';
const ABOVE_GEOMETRY = 'ckd|image|volume|tape|vtoc|catalog|library|engine|vault|export|subsystem|session|workload|control-api|techniques|check|live|server|api';
const ABOVE_CKD = 'image|volume|tape|vtoc|catalog|library|engine|vault|export|subsystem|session|workload|control-api|techniques|check|live|server|api';
const ABOVE_IMAGE = 'volume|tape|vtoc|catalog|library|engine|vault|export|session|workload|control-api|techniques|check|live|server|api';
const ABOVE_FORMATS = 'engine|vault|export|session|workload|control-api|techniques|check|live|server|api';
const ABOVE_SERVICES = 'control-api|techniques|check|live|server|api';
const ABOVE_TECHNIQUES = 'check|live|server|api';
const ABOVE_CHECK = 'live|server|api';
const ABOVE_LIVE = 'server|api';
const ABOVE_SERVER = 'api';

/** One rule: files under `fromPath` must not import files under `toPath`. */
function forbid(name, comment, fromPath, toPath) {
  return { name, comment, severity: 'error', from: { path: fromPath }, to: { path: toPath } };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'A cycle makes two modules one: neither can be read, tested or moved alone, and ESM ' +
        'initialisation order inside the cycle decides whether an import is still undefined. ' +
        'A cycle closed by an `import type` is erased at compile time and allowed (a record ' +
        'type declared beside the code that builds it).',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    forbid(
      'no-tests-from-src',
      'The library must build and run without its tests: src/ never imports test/ (helpers, ' +
        'fixtures), or dist/ would need them and a test could pass by testing itself.',
      '^src/',
      '^test/',
    ),
    forbid('no-bench-from-src', 'bench/ measures the library from outside; src/ importing it would ship the bench scripts.', '^src/', '^bench/'),
    forbid(
      'nothing-imports-cli',
      'cli/ is the top of the house: it parses arguments, prints and exits. Code below it that ' +
        'needs a CLI helper would drag commander, process.exit and terminal output into the library.',
      '^src/(?!cli/)',
      '^src/cli/',
    ),
    {
      name: 'cli-only-public-face',
      comment:
        'The CLI uses the library as any user would: through the public face src/api/index.ts and ' +
        'the typed errors. Reaching into techniques/, live/, vtoc/… ties the CLI to internals ' +
        'that must stay free to move.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: ['^src/cli/', '^src/api/index\\.ts$', '^src/errors/'] },
    },
    forbid(
      'errors-import-nothing',
      'errors/ is the floor: every layer throws these classes, so they may not depend on any of ' +
        'them (an error class that imports a volume cannot be thrown by the volume).',
      '^src/errors/',
      `^src/(${ABOVE_ERRORS})/`,
    ),
    forbid(
      'base-not-upward',
      'base/ holds helpers with no storage knowledge (EBCDIC, logging, assertions, PRNG); it may ' + 'use errors/ only, so every layer can use it.',
      '^src/base/',
      `^src/(${ABOVE_BASE})/`,
    ),
    forbid(
      'geometry-not-upward',
      'geometry/ is arithmetic on device types (cylinders, heads, capacities); it knows no file ' + 'format, so it may not import one.',
      '^src/geometry/',
      `^src/(${ABOVE_GEOMETRY})/`,
    ),
    forbid(
      'ckd-not-upward',
      'ckd/ encodes and decodes one track image; image backends store those tracks, so the codec ' + 'must not know how they are stored.',
      '^src/ckd/',
      `^src/(${ABOVE_CKD})/`,
    ),
    forbid(
      'image-not-upward',
      'image/ and subsystem/ store units (tracks, blocks) in Hercules files or in a shared pool; they ' +
        'must not know volumes, tapes or VTOCs built on top of them (e.g. image → volume, subsystem → ' +
        'volume), or every backend change would ripple upward.',
      '^src/(image|subsystem)/',
      `^src/(${ABOVE_IMAGE})/`,
    ),
    forbid(
      'formats-not-upward',
      'volume/, tape/, vtoc/, catalog/ and library/ are the formats: they read and write their own bytes and ' +
        'must not know who copies them (engine), serves them (export) or why (techniques), e.g. ' +
        'volume → techniques.',
      '^src/(volume|tape|vtoc|catalog|library)/',
      `^src/(${ABOVE_FORMATS})/`,
    ),
    forbid(
      'services-not-upward',
      'engine/, export/, session/ (the one session shape) and workload/ (host load for ' +
        'experiments) are services that techniques compose; a service importing a technique ' +
        '(engine → techniques) would make the technique the engine.',
      '^src/(engine|export|session|workload)/',
      `^src/(${ABOVE_SERVICES})/`,
    ),
    forbid(
      'engine-interprets-no-format',
      'The copy engine copies units to plain targets (an offset and a prefix, or a slot) and does ' +
        'not interpret them: the tape, VTOC and catalog formats belong to the techniques that build ' +
        'the targets (engine → tape).',
      '^src/engine/',
      '^src/(tape|vtoc|catalog|library)/',
    ),
    forbid(
      'techniques-not-upward',
      'A technique is used by check, live, server and api; it may not import them (e.g. the ' +
        'backup session importing a live/ recorder, or a technique opening volumes through api/).',
      '^src/(techniques|control-api)/',
      `^src/(${ABOVE_TECHNIQUES})/`,
    ),
    forbid(
      'check-not-upward',
      'check/ verifies images and tapes; it must work without a live view, a server or the api ' + 'layer that calls it.',
      '^src/check/',
      `^src/(${ABOVE_CHECK})/`,
    ),
    forbid('live-not-upward', 'live/ draws maps from a session view for the server and api; it may not import them.', '^src/live/', `^src/(${ABOVE_LIVE})/`),
    forbid(
      'live-imports-no-technique',
      'live/ draws every technique from one Session view(); importing a technique would bring ' + 'back one map module per technique (live → techniques).',
      '^src/live/',
      '^src/techniques/',
    ),
    forbid(
      'server-not-upward',
      'server/ serves sessions over the control socket and NBD; api/ is the public face that ' +
        'starts servers, so the server may not import it (or the CLI: server → cli).',
      '^src/server/',
      `^src/(${ABOVE_SERVER})/`,
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type from a higher layer is still an arrow upward.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.cts', '.js', '.cjs', '.mjs', '.d.ts'],
    },
  },
};

// ESLint flat config. Rules are chosen to catch defects, not to restyle: formatting is Prettier's,
// layering is dependency-cruiser's (.dependency-cruiser.cjs). The type-aware rules (promises that
// nobody awaits, awaiting a non-promise) need the TypeScript program, so they run on the files
// tsconfig.json includes; the plain .mjs/.js scripts get the syntax-only rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'images/**', 'bench/work/**', 'test-artifacts/**', 'test/fixtures/**', 'docs/api/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts', 'src/**/*.cts', 'test/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A promise nobody awaits loses its error (an unhandled rejection kills the process) and its
      // ordering (a write that is not finished before the next step starts).
      '@typescript-eslint/no-floating-promises': 'error',
      // An async function passed where a void callback is expected (event handlers, forEach):
      // its rejection goes nowhere.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      // `await` on a value that is not a promise is a sign the call is not the one intended.
      '@typescript-eslint/await-thenable': 'error',
      // Returning a promise from inside try/catch without await skips the catch and the finally.
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      // `for…in` over an array walks keys as strings, including inherited ones.
      '@typescript-eslint/no-for-in-array': 'error',
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        performance: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        structuredClone: 'readonly',
        AbortController: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      // `_name` marks a parameter or binding that is deliberately unused (a callback's shape).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // A `let` read by a closure before its one assignment (a signal handler installed before the
      // server it stops exists) cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Ambient declarations of untyped packages declare names only to describe them.
    files: ['**/*.d.ts'],
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
);

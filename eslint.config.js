import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

/**
 * Folder rules (docs/architecture.md): model ← workers ← client ← ui, never upward; scripts
 * never reach into tests/ or the UI. A relative import names the folder it enters right after
 * its `../` climb (`../../workers/engine`), which is what these patterns match; npm packages
 * are never relative, so they stay allowed everywhere.
 */
const into = (folders, except, climb = '(?:\\.\\./)+') =>
  `^${climb}(?:src/)?(?:${folders})(?:/${except ? `(?!${except}$)` : ''}|$)`;
const boundary = (...patterns) => ({
  'no-restricted-imports': [
    'error',
    { patterns: patterns.map(([regex, message]) => ({ regex, message })) },
  ],
});
/** src/main.tsx sits in src/ itself: it enters a folder with `./`. */
const FROM_SRC = '\\./';
const WORKER_SIDE = [
  into('workers', 'protocol'),
  'only workers/protocol (types) crosses to the page',
];

export default tseslint.config(
  { ignores: ['dist', 'node_modules', 'public', 'test-artifacts', 'tests/fixtures', 'tmp'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/ui/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'warn',
    },
  },
  {
    files: ['src/model/**'],
    rules: boundary([into('workers|client|ui|scripts|tests'), 'src/model imports only itself']),
  },
  {
    files: ['src/workers/**'],
    rules: boundary([into('client|ui|scripts|tests'), 'src/workers imports the model and itself']),
  },
  {
    files: ['src/client/**'],
    rules: boundary(WORKER_SIDE, [into('ui|scripts|tests'), 'src/client never imports the UI']),
  },
  {
    files: ['src/ui/**'],
    rules: boundary(WORKER_SIDE, [
      into('scripts|tests'),
      'the page never imports scripts or tests',
    ]),
  },
  {
    files: ['src/main.tsx'],
    rules: boundary([into('workers', 'protocol', FROM_SRC), WORKER_SIDE[1]]),
  },
  {
    files: ['scripts/**'],
    rules: boundary([
      into('tests|ui'),
      'scripts never import tests/ or src/ui (shared code lives in src/model or scripts/lib)',
    ]),
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
);

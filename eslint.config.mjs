import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['functions/**/*.ts', 'shared/**/*.ts'],
    rules: {
      // Deployed code logs through the invocation context (or processLog outside one), never the console.
      'no-console': 'error',
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/dev/**', '../dev/*', '../../dev/*', '../../../dev/*'], message: 'The deployed app never loads dev/.' }],
      }],
    },
  },
  {
    files: ['shared/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['@azure/*', '@azure-rest/*'], message: 'The domain core has no Azure SDK imports.' },
          { group: ['node:fs', 'fs', 'node:fs/*', 'fs/*', 'node:http', 'http', 'node:https', 'https', 'node:net', 'net', 'node:child_process', 'child_process'], message: 'The domain core does no I/O.' },
          { group: ['**/dev/**', '../dev/*', '../../dev/*', '../../../dev/*'], message: 'The deployed app never loads dev/.' },
        ],
      }],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { module: 'writable', require: 'readonly', process: 'readonly', __dirname: 'readonly', console: 'readonly' } } },
);

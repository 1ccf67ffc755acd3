// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '.stack/**',
      '.venv/**',
      'examples/python/.venv/**',
      'packages/*/dist/**',
      'packages/*/schemas/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'kafkajs', message: 'Only src/kafka/ talks to Kafka.' },
            {
              name: '@kafkajs/confluent-schema-registry',
              message: 'Only src/kafka/ talks to the schema registry.',
            },
          ],
        },
      ],
    },
  },
  {
    // the examples are other teams' programs, with their own Kafka client
    files: ['src/kafka/**/*.ts', 'examples/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);

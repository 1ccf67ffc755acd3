/** Unit tests are pure and sit next to the code; the rest run against the real local stack. */
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };

/** @type {import('jest').Config} */
module.exports = {
  // global options (Jest ignores them inside projects)
  testTimeout: 120000,
  // Tests that make Kafka unable to acknowledge leave KafkaJS retrying a batch forever (it has
  // no way to abort a send; the bridge's own process exits on stop): do not wait for it.
  forceExit: true,
  slowTestThreshold: 30,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      // test/docs checks the README's and docs/'s links, test/support the tests' own checks: pure
      testMatch: [
        '<rootDir>/src/**/*.test.ts',
        '<rootDir>/scripts/**/*.test.ts',
        '<rootDir>/test/docs/**/*.test.ts',
        '<rootDir>/test/support/**/*.test.ts',
      ],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/docs/', '<rootDir>/test/support/'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};

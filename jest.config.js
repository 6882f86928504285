/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The chaos test (minutes of killed processes) runs on its own: `npm run test:chaos`.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/chaos/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { isolatedModules: true } }] },
  // The Functions worker injects this module; the local host brings its own (dev/host/functionsCore.ts).
  moduleNameMapper: { '^@azure/functions-core$': '<rootDir>/dev/host/functionsCore.ts' },
  testTimeout: 60000,
  maxWorkers: 2,
};

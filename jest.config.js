// ts-jest in isolatedModules mode transpiles without type-checking (fast); `npm run typecheck`
// and the build's tsc do the checking.
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
  // Native kernels use every core; one Jest worker avoids oversubscribing a small machine.
  maxWorkers: 1,
};

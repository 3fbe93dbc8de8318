import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Builds dist/ once, for the tests that spawn bin/normc.
    globalSetup: ['test/setup/build.ts'],
    // Tests spawn the CLI and browsers; a loaded 2-core machine needs more than vitest's 5 s.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})

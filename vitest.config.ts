import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Builds dist/ once, for the tests that spawn bin/normc.
    globalSetup: ['test/setup/build.ts'],
  },
})

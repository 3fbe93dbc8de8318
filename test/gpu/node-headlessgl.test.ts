// Node headlessgl (required under CI=true; needs an X server: npm test runs under xvfb-run -a):
// the normalization program on every case, asserting the backend that ran.
import { expect, test } from 'vitest'
import { BackendUnavailableError, createGpu } from '../../runtime/gpu/backends.js'
import { defineNodeBackendSuite } from './node-suite.js'

const started = await defineNodeBackendSuite('headlessgl', { requiredInCi: true })

test.runIf(started)(
  'Dawn is refused, not crashed into, once headless-gl holds GL here',
  async () => {
    const e = await createGpu('webgpu').catch((x: unknown) => x)
    expect(e).toBeInstanceOf(BackendUnavailableError)
    expect((e as Error).message).toMatch(/^webgpu: headless-gl already holds a GL context/)
  },
)

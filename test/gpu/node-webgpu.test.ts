// Node webgpu (Dawn from the npm "webgpu" package, OpenGL ES backend; reported, not required):
// the normalization program on every case, asserting the backend that ran.
import { expect, test } from 'vitest'
import { BackendUnavailableError, createGpu } from '../../runtime/gpu/backends.js'
import { defineNodeBackendSuite } from './node-suite.js'

const started = await defineNodeBackendSuite('webgpu', { requiredInCi: false })

test.runIf(started)('headless-gl is refused, not crashed into, once Dawn runs here', async () => {
  const e = await createGpu('headlessgl').catch((x: unknown) => x)
  expect(e).toBeInstanceOf(BackendUnavailableError)
  expect((e as Error).message).toMatch(/^headlessgl: .*(Dawn|X server)/)
})

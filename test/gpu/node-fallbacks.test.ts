// gpu.js's CPU fallbacks, run as backends in their own right (and reported as such).
import { defineNodeBackendSuite } from './node-suite.js'

await defineNodeBackendSuite('webasm', { requiredInCi: false })
await defineNodeBackendSuite('cpu', { requiredInCi: false })

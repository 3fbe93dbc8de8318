// The gpu target on gpu.js's fallbacks, reported as such: WebAssembly and CPU.
import { defineTargetSuite } from './target-suite.js'

await defineTargetSuite('webasm', 'Node webasm (fallback)', false)
await defineTargetSuite('cpu', 'Node cpu (fallback)', false)

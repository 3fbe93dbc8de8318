// compile(source, { target: 'gpu', backend }) — the asynchronous API — against the js target.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { compile } from '../../runtime/index.js'
import { root, maxRelError } from '../helpers/oracle.js'

test('a BatchRenorm training step on the gpu target (gpu.js cpu backend) matches the js target', async () => {
  const src = readFileSync(join(root, 'examples', 'batchrenorm.norm'), 'utf8')
  const axes = { N: 64, C: 8 }
  const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.7) * 2 + (i % 8))
  const dy = Float32Array.from({ length: 512 }, (_, i) => 0.5 + Math.cos(i) ** 2)
  const gmod = await compile(src, { target: 'gpu', backend: 'cpu' })
  const g = gmod.layer('BatchRenorm', { axes, hyper: { rmax: 1.5, dmax: 0.5 } })
  const j = compile(src, { precision: 'f32' }).layer('BatchRenorm', {
    axes,
    hyper: { rmax: 1.5, dmax: 0.5 },
  })
  const gs = g.initState()
  const js = j.initState()
  const gr = await g.forward({ x }, { mode: 'train', params: g.initParams(), state: gs })
  const jr = j.forward({ x }, { mode: 'train', params: j.initParams(), state: js })
  expect(maxRelError(gr.outputs.y!, jr.outputs.y!)).toBeLessThan(1e-5)
  expect(maxRelError(gs.sigma!, js.sigma!)).toBeLessThan(1e-5)
  const gg = await g.backward(gr.saved, dy)
  const jg = j.backward(jr.saved, dy)
  for (const k of ['x', 'gamma', 'beta']) expect(maxRelError(gg[k]!, jg[k]!), k).toBeLessThan(1e-4)
  await g.dispose()
}, 120_000)

test('an unknown layer is refused by the gpu module too', async () => {
  const m = await compile('layer L(x: [N]) -> y { forward { y = x } }', {
    target: 'gpu',
    backend: 'cpu',
  })
  expect(() => m.layer('Nope', { axes: { N: 2 } })).toThrow(/no layer 'Nope'/)
})

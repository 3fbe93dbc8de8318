// Where `normc check` looks for the spec of a layer file when no --spec is given: for
// DIR/NAME.norm, the first of DIR/NAME.spec.norm, DIR/spec/NAME.spec.norm and
// DIR/../spec/NAME.spec.norm that exists (so examples/batchnorm2d.norm finds
// spec/batchnorm2d.spec.norm). Specs written in the layer files themselves are always used.

import { existsSync, statSync } from 'node:fs'
import { basename, dirname, join, normalize } from 'node:path'

/** The candidate spec paths of a layer file, in the order they are tried. */
export function specCandidates(layerFile: string): string[] {
  const base = basename(layerFile).replace(/\.norm$/, '')
  if (base.endsWith('.spec')) return []
  const dir = dirname(layerFile)
  return [
    join(dir, `${base}.spec.norm`),
    join(dir, 'spec', `${base}.spec.norm`),
    join(dir, '..', 'spec', `${base}.spec.norm`),
  ].map((p) => normalize(p))
}

/** The spec file found for a layer file, if any. */
export function findSpec(layerFile: string): string | undefined {
  return specCandidates(layerFile).find((p) => existsSync(p) && statSync(p).isFile())
}

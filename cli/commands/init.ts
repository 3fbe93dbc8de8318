// normc init [DIR]: writes a starter layer and its spec (a mean-only BatchNorm, by hand), which
// lint, format and check clean: a place to start from.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  EXIT_FAIL,
  EXIT_OK,
  UsageError,
  parseFlags,
  writeStderr,
  writeStdout,
  type Command,
} from '../command.js'
import { createStyle } from '../style.js'

export const STARTER_NAME = 'mean_only_batchnorm'

export const starterLayer = `# Mean-only batch normalization (Salimans & Kingma, 2016, "Weight Normalization: A Simple
# Reparameterization to Accelerate Training of Deep Neural Networks"): per channel C, subtract
# the mean over the batch N and add a learned bias. There is no division by the standard
# deviation, so the gradient is simply dy minus its batch mean.
#
# A starter layer written by \`normc init\`: edit it, then
#   normc lint mean_only_batchnorm.norm    check the shapes
#   normc grad mean_only_batchnorm.norm    print the derived backward pass
#   normc check mean_only_batchnorm.norm   compare it with finite differences and the spec
layer MeanOnlyBatchNorm(x: [N, C]) -> y {
  hyper momentum = 0.1
  param beta: [C] = 0
  state running_mean: [C] = 0

  train {
    mu = mean(x, [N])
    y = x - mu + beta
    running_mean <- lerp(running_mean, mu, momentum)
  }
  eval {
    y = x - running_mean + beta
  }
}
`

export const starterSpec = `# The gradients of MeanOnlyBatchNorm (mean_only_batchnorm.norm), derived by hand: \`normc check\`
# compares them with the ones normc derives. In scope: the layer's inputs, params, hypers and
# state, and dy, the gradient of the loss with respect to y.
#
# Training: y_i = x_i - mean_j x_j + beta, so dl/dx_i = dy_i - mean_j dy_j (the gradient
# through the mean is spread evenly over the batch), and dl/dbeta = sum_i dy_i.
spec MeanOnlyBatchNorm train {
  dx = dy - mean(dy, [N])
  dbeta = sum(dy, [N])
  # The moving average of the batch mean, written out rather than with lerp.
  running_mean <- (1 - momentum) * running_mean + momentum * mean(x, [N])
}

# Inference: the running mean is a constant, so y is x shifted.
spec MeanOnlyBatchNorm eval {
  dx = dy
  dbeta = sum(dy, [N])
}
`

export const init: Command = {
  name: 'init',
  summary: 'write a starter layer and its spec to a directory',
  usage: `Usage: normc init [DIR] [--force]

Writes DIR/${STARTER_NAME}.norm, a mean-only batch normalization layer (train and eval
blocks, a param, a state update), and DIR/${STARTER_NAME}.spec.norm, its gradients written
by hand, which \`normc check\` finds next to the layer. Both lint, format and check clean.
DIR (default: the current directory) is created if needed; existing files are kept unless
--force.

Exit: 0 written, 1 a file exists (without --force) or cannot be written, 2 usage error.
Options:
  --force   overwrite existing files
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { force: { type: 'boolean' } })
    if (positionals.length > 1) throw new UsageError('init takes one directory')
    const dir = positionals[0] ?? '.'
    const files = [
      { path: join(dir, `${STARTER_NAME}.norm`), text: starterLayer, what: 'the layer' },
      { path: join(dir, `${STARTER_NAME}.spec.norm`), text: starterSpec, what: 'its spec' },
    ]
    if (!values.force) {
      const there = files.filter((f) => existsSync(f.path))
      if (there.length) {
        for (const f of there) writeStderr(`normc init: ${f.path} exists (--force overwrites it)`)
        return EXIT_FAIL
      }
    }
    try {
      mkdirSync(dir, { recursive: true })
      for (const f of files) writeFileSync(f.path, f.text)
    } catch (e) {
      const err = e as NodeJS.ErrnoException
      writeStderr(`normc init: cannot write in ${dir}: ${err.code ?? err.message}`)
      return EXIT_FAIL
    }
    const s = createStyle(process.stdout)
    const width = Math.max(...files.map((f) => f.path.length))
    const layerPath = files[0]!.path
    await writeStdout(
      [
        ...files.map((f) => `${s.green('wrote')} ${f.path.padEnd(width)}  ${s.dim(f.what)}`),
        '',
        'Next:',
        `  normc lint ${layerPath}`,
        `  normc grad ${layerPath}`,
        `  normc check ${layerPath}`,
        `  normc graph ${layerPath} --backward -o ${join(dir, `${STARTER_NAME}.svg`)}`,
        '',
      ].join('\n'),
    )
    return EXIT_OK
  },
}

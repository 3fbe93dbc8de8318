// Formatting `.norm` text through prettier and the normc/prettier plugin, as `normc fmt` does:
// the same options (the prettier configuration that applies to the file, .editorconfig
// included) and the same code path as `prettier --plugin normc/prettier`, so the two agree.

import * as prettier from 'prettier'
import type { Diagnostic } from '../diagnostics.js'
import plugin from './index.js'

export interface FormatNormOptions {
  /** Look up the prettier configuration of `file` (default true). */
  config?: boolean
  /** Overrides the configured width. */
  printWidth?: number
}

export interface FormatNormResult {
  /** The formatted text; undefined when the source does not parse. */
  formatted: string | undefined
  /** The parse errors, when it does not. */
  diagnostics: Diagnostic[]
}

/** A prettier configuration that cannot be read. */
export class PrettierConfigError extends Error {}

/** The prettier options for `file`: its configuration, or none. */
export async function prettierOptionsFor(file: string): Promise<prettier.Options> {
  try {
    return (await prettier.resolveConfig(file, { editorconfig: true })) ?? {}
  } catch (e) {
    const why = (e as Error).message.split('\n')[0]
    throw new PrettierConfigError(`cannot read the prettier configuration for ${file}: ${why}`)
  }
}

export async function formatNorm(
  text: string,
  file: string,
  opts: FormatNormOptions = {},
): Promise<FormatNormResult> {
  const config = opts.config === false ? {} : await prettierOptionsFor(file)
  try {
    const formatted = await prettier.format(text, {
      ...config,
      ...(opts.printWidth !== undefined ? { printWidth: opts.printWidth } : {}),
      filepath: file,
      parser: 'norm',
      plugins: [plugin],
    })
    return { formatted, diagnostics: [] }
  } catch (e) {
    // A NormSyntaxError (by shape: the configuration may load another copy of the plugin).
    const diagnostics = (e as { diagnostics?: unknown }).diagnostics
    if (Array.isArray(diagnostics)) return { formatted: undefined, diagnostics }
    throw e
  }
}

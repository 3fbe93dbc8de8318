// A progress indicator for long runs (`normc check` with many trials, `normc bench`): one line
// on stderr, redrawn in place, shown only when stderr is a terminal. Elsewhere (pipes, files,
// CI logs, tests) every method does nothing, so commands call it unconditionally.
//
//   const p = createProgress('checking', { total: trials })
//   for (...) { work(); p.tick(1, `trial ${i}`) }
//   p.done()                     // clears the line; or p.done('checked 40 trials')
//
// It uses no timer: the line is redrawn when the count changes (at most every 50 ms unless
// the count reaches the total), so it works inside synchronous loops and never keeps the
// process alive. Write a report to stdout after done(); to print a line to stderr while the
// indicator is shown, use log(), which writes it above the indicator.

import { colorEnabled, createStyle, stripAnsi, visibleWidth, type Style } from './style.js'

export interface ProgressStream {
  isTTY?: boolean
  columns?: number
  write(s: string): unknown
}

export interface ProgressOptions {
  /** The number of steps, when known: a bar and a percentage; else a spinner and the count. */
  total?: number
  /** Where to draw (default process.stderr). */
  stream?: ProgressStream
  /** Force drawing on or off (default: the stream is a TTY and TERM is not `dumb`). */
  enabled?: boolean
  /** The least time between redraws, in ms (default 50). */
  intervalMs?: number
  /** The clock, for tests (default performance.now). */
  now?: () => number
}

export interface Progress {
  /** Whether anything is drawn. */
  readonly enabled: boolean
  /** Advance by `n` steps (default 1); `detail`, when given, replaces the text after the bar. */
  tick(n?: number, detail?: string): void
  /** Set the number of steps done. */
  update(done: number, detail?: string): void
  /** Set (or change) the total. */
  setTotal(total: number): void
  /** Write a line to the stream, above the indicator (always written, TTY or not). */
  log(line: string): void
  /** Remove the indicator, and on a TTY leave `message` in its place. Idempotent. */
  done(message?: string): void
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
const BAR = 24

/** Creates a progress indicator labelled `label` (e.g. 'checking BatchNorm2d'). */
export function createProgress(label: string, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr
  const enabled = opts.enabled ?? (Boolean(stream.isTTY) && process.env.TERM !== 'dumb')
  const now = opts.now ?? (() => performance.now())
  const interval = opts.intervalMs ?? 50
  const style: Style = createStyle(stream, enabled && colorEnabled(stream))
  const t0 = now()
  let total = opts.total
  let count = 0
  let detail = ''
  let lastDraw = -Infinity
  let frame = 0
  let shown = false
  let finished = false

  const render = (): string => {
    const secs = ((now() - t0) / 1000).toFixed(1) + 's'
    let body: string
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, count / total)
      const filled = Math.round(frac * BAR)
      const bar = style.cyan('█'.repeat(filled)) + style.dim('░'.repeat(BAR - filled))
      const pct = `${Math.floor(frac * 100)}%`.padStart(4)
      body = `${style.bold(label)} ${bar} ${pct} ${count}/${total} ${style.dim(secs)}`
    } else {
      const spin = style.cyan(SPINNER[frame++ % SPINNER.length]!)
      body = `${spin} ${style.bold(label)} ${count} ${style.dim(secs)}`
    }
    if (detail) body += ` ${style.dim(detail)}`
    // Never wrap: a wrapped line cannot be redrawn in place. A pty may report 0 columns
    // (`script`, some CI runners): take 80 then.
    const cols = (stream.columns || 80) - 1
    if (visibleWidth(body) > cols) {
      body = [...stripAnsi(body)].slice(0, Math.max(0, cols - 1)).join('') + '…'
    }
    return body
  }

  const draw = (force: boolean): void => {
    if (!enabled || finished) return
    const t = now()
    if (!force && t - lastDraw < interval) return
    lastDraw = t
    stream.write(`\r\x1b[2K${render()}`)
    shown = true
  }

  const clear = (): void => {
    if (shown) stream.write('\r\x1b[2K')
    shown = false
  }

  return {
    enabled,
    tick(n = 1, d) {
      count += n
      if (d !== undefined) detail = d
      draw(total !== undefined && count >= total)
    },
    update(done, d) {
      count = done
      if (d !== undefined) detail = d
      draw(total !== undefined && count >= total)
    },
    setTotal(t) {
      total = t
      draw(true)
    },
    log(line) {
      clear()
      stream.write(line.endsWith('\n') ? line : line + '\n')
      if (enabled && !finished) draw(true)
    },
    done(message) {
      if (finished) return
      if (enabled) {
        clear()
        if (message !== undefined) stream.write(message.endsWith('\n') ? message : message + '\n')
      }
      finished = true
    },
  }
}

/** Runs `fn` with a progress indicator, removed when `fn` ends (however it ends). */
export async function withProgress<T>(
  label: string,
  opts: ProgressOptions,
  fn: (p: Progress) => T | Promise<T>,
): Promise<T> {
  const p = createProgress(label, opts)
  try {
    return await fn(p)
  } finally {
    p.done()
  }
}

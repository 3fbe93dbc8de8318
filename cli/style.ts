// Terminal styling for the command line: colors when the output is a terminal, plain text
// otherwise. Colors are off when the stream is not a TTY, when NO_COLOR is set (to anything
// non-empty, https://no-color.org) or TERM is `dumb`; FORCE_COLOR (non-empty, not `0`) turns
// them on anyway. The text is the same either way, only the escape codes differ, so piped or
// captured output (tests, CI logs) is unchanged by this module.

export interface StyleStream {
  isTTY?: boolean
}

/** Whether to color what is written to `stream`, from the stream and the environment. */
export function colorEnabled(
  stream: StyleStream,
  env: Record<string, string | undefined> = process.env,
): boolean {
  if (env.NO_COLOR) return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0'
  if (env.TERM === 'dumb') return false
  return Boolean(stream.isTTY)
}

type Paint = (s: string) => string

export interface Style {
  readonly enabled: boolean
  bold: Paint
  dim: Paint
  red: Paint
  green: Paint
  yellow: Paint
  blue: Paint
  magenta: Paint
  cyan: Paint
  gray: Paint
}

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
} as const

/** A style for a stream (default: decided from `stream` and the environment). */
export function createStyle(stream: StyleStream = process.stdout, enabled?: boolean): Style {
  const on = enabled ?? colorEnabled(stream)
  const paint =
    ([open, close]: readonly [number, number]): Paint =>
    (s) =>
      on && s ? `\x1b[${open}m${s}\x1b[${close}m` : s
  return {
    enabled: on,
    bold: paint(codes.bold),
    dim: paint(codes.dim),
    red: paint(codes.red),
    green: paint(codes.green),
    yellow: paint(codes.yellow),
    blue: paint(codes.blue),
    magenta: paint(codes.magenta),
    cyan: paint(codes.cyan),
    gray: paint(codes.gray),
  }
}

const ANSI = /\x1b\[[0-9;]*m/g

/** The text without escape codes. */
export function stripAnsi(s: string): string {
  return s.replace(ANSI, '')
}

/** The width a string takes on a terminal: escape codes do not count, code points do. */
export function visibleWidth(s: string): number {
  return [...stripAnsi(s)].length
}

export interface TableOptions {
  /** Per column: right-aligned (numbers) or left (default). */
  align?: ('left' | 'right')[]
  /** A header row, printed bold and underlined by dashes. */
  head?: string[]
  /** Spaces between columns (default 2). */
  gap?: number
  /** A style for the header (default: none). */
  style?: Style
}

/**
 * Rows as aligned columns (cells may contain escape codes: widths are what is visible).
 * Lines have no trailing spaces and end without a newline.
 */
export function table(rows: string[][], opts: TableOptions = {}): string {
  const all = opts.head ? [opts.head, ...rows] : rows
  const cols = Math.max(0, ...all.map((r) => r.length))
  const width = Array.from({ length: cols }, (_, i) =>
    Math.max(0, ...all.map((r) => visibleWidth(r[i] ?? ''))),
  )
  const gap = ' '.repeat(opts.gap ?? 2)
  const line = (r: string[]) =>
    width
      .map((w, i) => {
        const c = r[i] ?? ''
        const pad = ' '.repeat(Math.max(0, w - visibleWidth(c)))
        return opts.align?.[i] === 'right' ? pad + c : c + pad
      })
      .join(gap)
      .replace(/\s+$/, '')
  const out: string[] = []
  if (opts.head) {
    const bold = opts.style?.bold ?? ((s: string) => s)
    out.push(line(opts.head.map(bold)))
    out.push(line(width.map((w) => '-'.repeat(w))))
  }
  out.push(...rows.map(line))
  return out.join('\n')
}

/**
 * Colors the diagnostics rendered by compiler/frontend's renderDiagnostics: the place bold, the
 * severity red or yellow, the gutter dim, the caret in the severity's color. Without color it
 * returns the text unchanged.
 */
export function styleDiagnostics(text: string, s: Style): string {
  if (!s.enabled) return text
  let color: Paint = s.red
  return text
    .split('\n')
    .map((l) => {
      const src = /^( *\d+ \| )(.*)$/.exec(l)
      if (src) return s.dim(src[1]!) + src[2]
      const caret = /^( *\| )( *)([\^~]+)$/.exec(l)
      if (caret) return s.dim(caret[1]!) + caret[2] + color(caret[3]!)
      const head = /^(.*?:\d+:\d+: |)(error|warning)(: )(.*)$/.exec(l)
      if (head) {
        color = head[2] === 'error' ? s.red : s.yellow
        return `${s.bold(head[1]!)}${s.bold(color(head[2]!))}${head[3]}${s.bold(head[4]!)}`
      }
      return l
    })
    .join('\n')
}

/** Colors a status word (PASS, OK, FAIL, FAILED, SKIP, INFO) where it appears as a word. */
export function styleStatus(text: string, s: Style): string {
  if (!s.enabled) return text
  return text.replace(/\b(PASS|OK|FAIL|FAILED|SKIP|INFO)\b/g, (w) =>
    w === 'PASS' || w === 'OK'
      ? s.green(w)
      : w.startsWith('FAIL')
        ? s.bold(s.red(w))
        : w === 'SKIP'
          ? s.yellow(w)
          : s.cyan(w),
  )
}

/** Writes rendered diagnostics to stderr, colored when stderr is a terminal. */
export function writeDiagnostics(text: string): void {
  const s = styleDiagnostics(text, createStyle(process.stderr))
  process.stderr.write(s.endsWith('\n') ? s : s + '\n')
}

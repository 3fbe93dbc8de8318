// Progress while training, on stderr: a bar redrawn in place on a terminal, plain lines
// (one every 10%) when stderr is not a TTY (a log file, CI).

export interface Progress {
  /** Declares the total amount of work (training steps and evaluations, in steps). */
  start(total: number): void
  /** Records n units of work done, under a label (the run in progress). */
  tick(label: string, n?: number): void
  /** Ends the bar. */
  done(): void
}

/** A progress sink that shows nothing (tests). */
export const silentProgress: Progress = {
  start() {},
  tick() {},
  done() {},
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`
}

export class ProgressBar implements Progress {
  private total = 1
  private done_ = 0
  private started = 0
  private lastDraw = 0
  private lastDecile = -1
  private label = ''
  private readonly tty: boolean

  constructor(
    private readonly title: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY)
  }

  start(total: number): void {
    this.total = Math.max(1, total)
    this.done_ = 0
    this.started = performance.now()
    this.draw(true)
  }

  tick(label: string, n = 1): void {
    this.done_ = Math.min(this.total, this.done_ + n)
    const changed = label !== this.label
    this.label = label
    this.draw(changed)
  }

  done(): void {
    this.done_ = this.total
    this.draw(true)
    if (this.tty) this.stream.write('\n')
  }

  private draw(force: boolean): void {
    const now = performance.now()
    const frac = this.done_ / this.total
    const elapsed = (now - this.started) / 1000
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : NaN
    const pct = `${Math.floor(frac * 100)}%`.padStart(4)
    const times = `${clock(elapsed)} elapsed${frac > 0 && frac < 1 ? `, ~${clock(eta)} left` : ''}`
    if (this.tty) {
      if (!force && now - this.lastDraw < 100) return
      this.lastDraw = now
      const width = 30
      const filled = Math.round(frac * width)
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled)
      const line = `${this.title} ${bar} ${pct}  ${this.label}  ${times}`
      const cols = this.stream.columns || 120
      this.stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`)
    } else {
      const decile = Math.floor(frac * 10)
      if (decile === this.lastDecile) return
      this.lastDecile = decile
      this.stream.write(`${this.title}: ${pct} ${this.label} (${times})\n`)
    }
  }
}

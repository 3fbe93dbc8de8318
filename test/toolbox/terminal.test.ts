// CLI polish: colors only on a terminal (NO_COLOR and FORCE_COLOR honoured), aligned tables,
// colored diagnostics that read the same without color, and the progress indicator.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createProgress, withProgress, type ProgressStream } from '../../cli/progress.js'
import {
  colorEnabled,
  createStyle,
  stripAnsi,
  styleDiagnostics,
  styleStatus,
  table,
  visibleWidth,
} from '../../cli/style.js'
import { normc, plainEnv, scratch } from './helpers.js'

describe('colors', () => {
  it('are on for a terminal only, off with NO_COLOR or TERM=dumb, forced by FORCE_COLOR', () => {
    const tty = { isTTY: true }
    const pipe = { isTTY: false }
    expect(colorEnabled(tty, {})).toBe(true)
    expect(colorEnabled(pipe, {})).toBe(false)
    expect(colorEnabled({}, {})).toBe(false)
    expect(colorEnabled(tty, { NO_COLOR: '1' })).toBe(false)
    expect(colorEnabled(tty, { NO_COLOR: '' })).toBe(true)
    expect(colorEnabled(tty, { TERM: 'dumb' })).toBe(false)
    expect(colorEnabled(pipe, { FORCE_COLOR: '1' })).toBe(true)
    expect(colorEnabled(tty, { FORCE_COLOR: '0' })).toBe(false)
    expect(colorEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false)
  })

  it('a disabled style changes nothing; an enabled one only adds escape codes', () => {
    const off = createStyle({}, false)
    const on = createStyle({}, true)
    expect(off.red('x')).toBe('x')
    expect(on.red('x')).toBe('\x1b[31mx\x1b[39m')
    expect(stripAnsi(on.bold(on.green('ok')))).toBe('ok')
    expect(visibleWidth(on.cyan('héllo'))).toBe(5)
    expect(on.red('')).toBe('')
  })
})

describe('table', () => {
  it('aligns columns by their visible width, right-aligning where asked', () => {
    const on = createStyle({}, true)
    const rows = [
      ['x', on.green('PASS'), '1e-10'],
      ['gamma', on.red('FAIL'), '3.5'],
    ]
    const t = table(rows, { head: ['w.r.t.', 'result', 'err'], align: ['left', 'left', 'right'] })
    expect(stripAnsi(t)).toBe(
      [
        'w.r.t.  result    err',
        '------  ------  -----',
        'x       PASS    1e-10',
        'gamma   FAIL      3.5',
      ].join('\n'),
    )
    for (const l of t.split('\n')) expect(l).toBe(l.trimEnd())
  })

  it('takes ragged rows and no rows', () => {
    expect(table([['a'], ['bb', 'c']])).toBe('a\nbb  c')
    expect(table([])).toBe('')
  })
})

describe('diagnostics and statuses', () => {
  const text = [
    'a.norm:3:9: error: unknown name zz',
    '   3 |     y = zz',
    '     |         ^~',
    "a.norm:5:1: warning: unused hyper 'eps'",
    '   5 | hyper eps = 1',
    '     | ^~~~~',
  ].join('\n')

  it('are unchanged without color', () => {
    expect(styleDiagnostics(text, createStyle({}, false))).toBe(text)
    expect(styleStatus('PASS FAIL', createStyle({}, false))).toBe('PASS FAIL')
  })

  it('are colored by severity, and read the same once the codes are removed', () => {
    const s = createStyle({}, true)
    const out = styleDiagnostics(text, s)
    expect(stripAnsi(out)).toBe(text)
    const lines = out.split('\n')
    expect(lines[0]).toContain(s.red('error'))
    expect(lines[2]).toContain(s.red('^~'))
    expect(lines[3]).toContain(s.yellow('warning'))
    expect(lines[5]).toContain(s.yellow('^~~~~'))
    expect(styleStatus('OK: 3 PASS, 1 FAIL', s)).toBe(
      `${s.green('OK')}: 3 ${s.green('PASS')}, 1 ${s.bold(s.red('FAIL'))}`,
    )
  })

  it('normc colors its diagnostics only when asked to, and the text is the same', () => {
    const dir = scratch('color')
    const bad = join(dir, 'bad.norm')
    writeFileSync(bad, 'layer L(x: [N]) -> y {\n  forward {\n    y = zz\n  }\n}\n')
    const plain = normc(['lint', bad])
    expect(plain.code).toBe(1)
    expect(plain.stderr).not.toContain('\x1b[')
    const forced = normc(['lint', bad], { env: plainEnv({ FORCE_COLOR: '1' }) })
    expect(forced.code).toBe(1)
    expect(forced.stderr).toContain('\x1b[31m')
    expect(stripAnsi(forced.stderr)).toBe(plain.stderr)
    const no = normc(['lint', bad], { env: plainEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }) })
    expect(no.stderr).toBe(plain.stderr)
    const help = normc(['--help'], { env: plainEnv({ FORCE_COLOR: '1' }) })
    expect(help.stdout).toContain('\x1b[')
    expect(stripAnsi(help.stdout)).toBe(normc(['--help']).stdout)
  }, 60_000)
})

/** A fake terminal recording what is written, and a clock the test moves. */
function fakeTerminal(isTTY = true, columns = 60) {
  const writes: string[] = []
  const stream: ProgressStream = { isTTY, columns, write: (s: string) => writes.push(s) }
  let t = 0
  return { stream, writes, now: () => t, advance: (ms: number) => (t += ms) }
}

/** The line shown last: what follows the last carriage return and line clear. */
const shown = (writes: string[]) => stripAnsi(writes.join('').split('\r\x1b[2K').at(-1) ?? '')

describe('progress', () => {
  it('draws a bar with the count on a terminal, in place, and clears it when done', () => {
    const term = fakeTerminal()
    const p = createProgress('checking', { total: 4, stream: term.stream, now: term.now })
    expect(p.enabled).toBe(true)
    for (let i = 1; i <= 4; i++) {
      term.advance(100)
      p.tick(1, `trial ${i}`)
    }
    const out = term.writes.join('')
    expect(out).not.toContain('\n')
    expect(stripAnsi(term.writes.at(-1)!)).toMatch(
      /^\r\x1b\[2Kchecking [█░]{24} 100% 4\/4 0\.4s trial 4$/,
    )
    p.done()
    expect(term.writes.at(-1)).toBe('\r\x1b[2K')
    const n = term.writes.length
    p.tick()
    p.done('again')
    expect(term.writes.length).toBe(n)
  })

  it('redraws at most every 50 ms, but always shows the last step', () => {
    const term = fakeTerminal()
    const p = createProgress('bench', { total: 1000, stream: term.stream, now: term.now })
    for (let i = 0; i < 1000; i++) p.tick()
    // The first draw, then nothing until the count reaches the total.
    expect(term.writes).toHaveLength(2)
    expect(shown(term.writes)).toContain('1000/1000')
  })

  it('shows a spinner and the count without a total, and never a line wider than the terminal', () => {
    const term = fakeTerminal(true, 30)
    const p = createProgress('a rather long label for a narrow terminal', {
      stream: term.stream,
      now: term.now,
    })
    p.tick(3, 'some detail that does not fit')
    const line = shown(term.writes)
    expect(visibleWidth(line)).toBeLessThanOrEqual(29)
    expect(line.endsWith('…')).toBe(true)
    const wide = fakeTerminal(true, 200)
    createProgress('spin', { stream: wide.stream, now: wide.now }).tick(3)
    expect(shown(wide.writes)).toMatch(/^⠋ spin 3 0\.0s$/)
  })

  it('draws nothing when the stream is not a terminal, but log() still writes', () => {
    const term = fakeTerminal(false)
    const p = createProgress('checking', { total: 3, stream: term.stream, now: term.now })
    expect(p.enabled).toBe(false)
    p.tick()
    p.update(3, 'x')
    p.setTotal(5)
    p.log('a line')
    p.done('finished')
    expect(term.writes).toEqual(['a line\n'])
  })

  it('log() writes above the indicator and redraws it', () => {
    const term = fakeTerminal()
    const p = createProgress('run', { total: 2, stream: term.stream, now: term.now })
    p.tick()
    p.log('note')
    expect(term.writes.slice(-3).map(stripAnsi)).toEqual([
      '\r\x1b[2K',
      'note\n',
      expect.stringMatching(/^\r\x1b\[2Krun .* 1\/2/),
    ])
    p.done('done: 2 runs')
    expect(term.writes.slice(-2)).toEqual(['\r\x1b[2K', 'done: 2 runs\n'])
  })

  it('withProgress removes the indicator however the work ends', async () => {
    const term = fakeTerminal()
    await expect(
      withProgress('work', { total: 2, stream: term.stream, now: term.now }, (p) => {
        p.tick()
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(term.writes.at(-1)).toBe('\r\x1b[2K')
    const v = await withProgress('work', { stream: term.stream }, async () => 42)
    expect(v).toBe(42)
  })
})

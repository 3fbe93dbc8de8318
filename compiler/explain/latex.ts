// `.norm` expressions as LaTeX, for `normc grad --latex`: names with Greek letters and
// subscripts (mu → \mu, sigmaB → \sigma_B, xhat → \hat{x}), reductions as sums over the
// lower-case axis letters, quotients as fractions, and the adjoint dNAME as \bar{NAME}.

import type { BinaryOp, Expr } from '../../grammar/ast.js'

const greek = new Set([
  'alpha',
  'beta',
  'gamma',
  'delta',
  'epsilon',
  'zeta',
  'eta',
  'theta',
  'iota',
  'kappa',
  'lambda',
  'mu',
  'nu',
  'xi',
  'pi',
  'rho',
  'sigma',
  'tau',
  'upsilon',
  'phi',
  'chi',
  'psi',
  'omega',
  'Gamma',
  'Delta',
  'Theta',
  'Lambda',
  'Xi',
  'Pi',
  'Sigma',
  'Upsilon',
  'Phi',
  'Psi',
  'Omega',
])

/** A variable name in math style: `mu` → `\mu`, `sigmaB` → `\sigma_{B}`, `xhat` → `\hat{x}`. */
export function latexName(name: string): string {
  if (name === 'eps') return '\\varepsilon'
  const hat = /^(.+)hat(.*)$/.exec(name)
  if (hat) return withSub(`\\hat{${latexName(hat[1]!)}}`, hat[2]!)
  const m = /^([A-Za-z]+?)(max|min|[A-Z0-9][A-Za-z0-9]*|_[A-Za-z0-9_]+)?$/.exec(name)
  if (m && greek.has(m[1]!)) return withSub(`\\${m[1]}`, (m[2] ?? '').replace(/^_/, ''))
  if (m && m[1]!.length === 1) return withSub(m[1]!, (m[2] ?? '').replace(/^_/, ''))
  if (name.length === 1) return name
  return `\\mathit{${name.replace(/_/g, '\\_')}}`
}

function withSub(base: string, sub: string): string {
  if (!sub) return base
  const s =
    sub === 'max' || sub === 'min' ? `\\${sub}` : sub.length === 1 ? sub : `\\mathrm{${sub}}`
  return `${base}_{${s}}`
}

/** The adjoint ∂ℓ/∂NAME: \bar{NAME}. */
export function latexAdjoint(name: string): string {
  const n = latexName(name)
  return /^\\?[A-Za-z]$|^\\[a-z]+$/.test(n) ? `\\bar{${n}}` : `\\overline{${n}}`
}

const axisLetters = (e: Expr) =>
  e.kind === 'axes' ? e.axes.map((a) => a.name.toLowerCase()).join(',') : '?'
const axisProduct = (e: Expr) => (e.kind === 'axes' ? e.axes.map((a) => a.name).join('\\,') : '?')

const PREC_ADD = 1
const PREC_MUL = 2
const PREC_NEG = 3
const PREC_POW = 4
const PREC_ATOM = 5

function prec(e: Expr): number {
  switch (e.kind) {
    case 'binary':
      return e.op === '+' || e.op === '-'
        ? PREC_ADD
        : e.op === '*'
          ? PREC_MUL
          : e.op === '/'
            ? PREC_ATOM
            : PREC_POW
    case 'neg':
      return PREC_NEG
    case 'num':
      return e.value < 0 ? PREC_NEG : PREC_ATOM
    case 'as':
      return prec(e.operand)
    case 'call':
      return e.callee === 'sum' || e.callee === 'mean' ? PREC_MUL : PREC_ATOM
    default:
      return PREC_ATOM
  }
}

const paren = (s: string) => `\\left(${s}\\right)`
const operand = (e: Expr, min: number, names: Names) =>
  prec(e) < min ? paren(latex(e, names)) : latex(e, names)

/** How a name is written (adjoints dNAME as bars, others by `latexName`). */
export type Names = (name: string) => string

export const defaultNames: Names = latexName

function number(v: number): string {
  if (Number.isInteger(v) || Math.abs(v) >= 1e-3) return String(v)
  const [m, ex] = v.toExponential().split('e')
  return `${m === '1' ? '' : `${m}\\cdot `}10^{${Number(ex)}}`
}

/** An expression as LaTeX. */
export function latex(e: Expr, names: Names = defaultNames): string {
  switch (e.kind) {
    case 'num':
      return e.value < 0 ? `-${number(-e.value)}` : number(e.value)
    case 'name':
      return names(e.name)
    case 'axes':
      return `[${e.axes.map((a) => a.name).join(', ')}]`
    case 'neg':
      return `-${operand(e.operand, PREC_NEG + 1, names)}`
    case 'as':
      return latex(e.operand, names)
    case 'binary':
      return binary(e.op, e.left, e.right, names)
    case 'call':
      return call(e.callee, e.args, names)
  }
}

function binary(op: BinaryOp, l: Expr, r: Expr, names: Names): string {
  switch (op) {
    case '+':
      return `${operand(l, PREC_ADD, names)} + ${operand(r, PREC_ADD, names)}`
    case '-':
      return `${operand(l, PREC_ADD, names)} - ${operand(r, PREC_ADD + 1, names)}`
    case '*': {
      const a = operand(l, PREC_MUL, names)
      const b = operand(r, PREC_MUL, names)
      // A number after another factor reads better in front: 2 (x − μ) rather than (x − μ) 2.
      if (r.kind === 'num' && l.kind !== 'num') return `${b}\\,${a}`
      return /^[0-9.]/.test(b) || (/[0-9}]$/.test(a) && /^[0-9]/.test(b))
        ? `${a} \\cdot ${b}`
        : `${a}\\,${b}`
    }
    case '/':
      return `\\frac{${latex(l, names)}}{${latex(r, names)}}`
    case '^': {
      if (r.kind === 'num' && r.value === 0.5) return `\\sqrt{${latex(l, names)}}`
      return `${operand(l, PREC_ATOM, names)}^{${latex(r, names)}}`
    }
  }
}

function call(f: string, args: Expr[], names: Names): string {
  const a = (i: number) => latex(args[i]!, names)
  switch (f) {
    case 'sum':
      return `\\sum_{${axisLetters(args[1]!)}} ${operand(args[0]!, PREC_MUL, names)}`
    case 'mean':
      return `\\operatorname{mean}_{${axisLetters(args[1]!)}} ${operand(args[0]!, PREC_MUL, names)}`
    case 'max':
    case 'min':
      return args[1]!.kind === 'axes'
        ? `\\${f}_{${axisLetters(args[1]!)}} ${operand(args[0]!, PREC_MUL, names)}`
        : `\\${f}\\left(${a(0)}, ${a(1)}\\right)`
    case 'count':
      return axisProduct(args[0]!)
    case 'sqrt':
      return `\\sqrt{${a(0)}}`
    case 'rsqrt':
      return `\\frac{1}{\\sqrt{${a(0)}}}`
    case 'abs':
      return `\\left|${a(0)}\\right|`
    case 'exp':
    case 'log':
    case 'tanh':
      return `\\${f}${paren(a(0))}`
    case 'clamp':
      return `\\operatorname{clip}_{[${a(1)},\\,${a(2)}]}${paren(a(0))}`
    case 'stop_gradient':
      return `\\operatorname{sg}${paren(a(0))}`
    case 'lerp':
      return `\\operatorname{lerp}${paren(`${a(0)}, ${a(1)}, ${a(2)}`)}`
    case 'ge':
      return `[${a(0)} \\ge ${a(1)}]`
    case 'gt':
      return `[${a(0)} > ${a(1)}]`
    case 'le':
      return `[${a(0)} \\le ${a(1)}]`
    case 'lt':
      return `[${a(0)} < ${a(1)}]`
    case 'eq':
      return `[${a(0)} = ${a(1)}]`
    case 'broadcast':
      return a(0)
    default:
      return `\\operatorname{${f}}${paren(args.map((_, i) => a(i)).join(', '))}`
  }
}

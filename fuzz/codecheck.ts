// What generated JavaScript may contain: a whitelist over the parsed syntax tree (acorn), so
// that no `.norm` file can make emitted code do anything but arithmetic on its buffers.
//
// The step functions may declare and read their own variables (b3, v12, o3_1, s0, …), index the
// arguments B, S, H and the buffers, loop, compare, branch in conditional expressions, do
// arithmetic, call Math's functions, a buffer's fill() and bN.set(bM). Nothing else: no other
// calls, no `new`, no property other than Math.f / .length / .fill / .set, no strings but
// 'use strict', no functions, templates, `this`, imports or globals. A module (`normc compile --target js`) may
// also export `meta`, pure data: objects, arrays, strings, numbers, null.

import { parse, tokenizer, type Node as AcornNode } from 'acorn'

/** Identifiers generated code may use (the hostile-source test's list, plus `f` for wrapping). */
export const ALLOWED_IDENTIFIER =
  /^(?:[bvsiojkadtmn]\d*(?:_\d+){0,2}|[BSH]|d|s|m|t|Math|sqrt|exp|log|abs|tanh|max|min|sign|Infinity|NaN|fill|set|length|meta|let|forward_(?:train|eval)|backward_(?:train|eval))$/

const MATH_FUNCTIONS = new Set(['sqrt', 'exp', 'log', 'abs', 'tanh', 'max', 'min', 'sign'])
const BINARY_OPS = new Set(['+', '-', '*', '/', '**', '<', '<=', '>', '>=', '==='])
const ASSIGN_OPS = new Set(['=', '+='])

type N = AcornNode & Record<string, unknown>

/** Every identifier token of `code`. */
export function identifiers(code: string): string[] {
  const out: string[] = []
  for (const t of tokenizer(code, { ecmaVersion: 2022, sourceType: 'module' }))
    if (t.type.label === 'name') out.push(String((t as unknown as { value: unknown }).value))
  return out
}

/** Problems with a syntax tree of generated code (empty: it only does arithmetic). */
function checkTree(root: N): string[] {
  const bad: string[] = []
  const fail = (n: N, why: string): void => {
    bad.push(`${n.type} at ${n.start}: ${why}`)
  }
  const ident = (n: N) => {
    if (n.type !== 'Identifier') return fail(n, 'expected an identifier')
    if (!ALLOWED_IDENTIFIER.test(String(n.name)))
      fail(n, `identifier '${String(n.name)}' is not one the emitter makes`)
  }
  const data = (n: N): void => {
    // meta: JSON-like data only.
    switch (n.type) {
      case 'ObjectExpression':
        for (const p of n.properties as N[]) {
          if (p.type !== 'Property' || p.computed || p.kind !== 'init' || p.method || p.shorthand)
            fail(p, 'not a plain data property')
          const k = p.key as N
          if (k.type !== 'Identifier' && !(k.type === 'Literal' && typeof k.value === 'string'))
            fail(k, 'not a plain key')
          if (k.type === 'Identifier' && (k.name === '__proto__' || k.name === 'constructor'))
            fail(k, 'a prototype key')
          data(p.value as N)
        }
        return
      case 'ArrayExpression':
        for (const e of n.elements as (N | null)[]) if (e) data(e)
        return
      case 'Literal':
        if (!(typeof n.value === 'string' || typeof n.value === 'number' || n.value === null))
          fail(n, 'not a data literal')
        return
      case 'UnaryExpression':
        if (
          n.operator !== '-' ||
          (n.argument as N).type !== 'Literal' ||
          typeof (n.argument as N).value !== 'number'
        )
          fail(n, 'not a negative number')
        return
      default:
        fail(n, 'not data')
    }
  }
  const expr = (n: N): void => {
    switch (n.type) {
      case 'Identifier':
        return ident(n)
      case 'Literal':
        if (typeof n.value !== 'number') fail(n, 'only number literals in code')
        return
      case 'BinaryExpression':
        if (!BINARY_OPS.has(String(n.operator))) fail(n, `operator ${String(n.operator)}`)
        expr(n.left as N)
        expr(n.right as N)
        return
      case 'UnaryExpression':
        if (n.operator !== '-') fail(n, `operator ${String(n.operator)}`)
        expr(n.argument as N)
        return
      case 'ConditionalExpression':
        expr(n.test as N)
        expr(n.consequent as N)
        expr(n.alternate as N)
        return
      case 'AssignmentExpression': {
        if (!ASSIGN_OPS.has(String(n.operator))) fail(n, `assignment ${String(n.operator)}`)
        const l = n.left as N
        if (l.type === 'Identifier') ident(l)
        else if (l.type === 'MemberExpression' && l.computed) member(l)
        else fail(l, 'assignment target')
        expr(n.right as N)
        return
      }
      case 'UpdateExpression':
        if (n.operator !== '++' || (n.argument as N).type !== 'Identifier') fail(n, 'update')
        else ident(n.argument as N)
        return
      case 'MemberExpression':
        return member(n)
      case 'CallExpression': {
        const callee = n.callee as N
        // (() => { … })(): a stage in a function of its own (long programs, emit/js run()).
        if (
          callee.type === 'ArrowFunctionExpression' &&
          !callee.async &&
          (callee.params as N[]).length === 0 &&
          (n.arguments as N[]).length === 0 &&
          (callee.body as N).type === 'BlockStatement'
        ) {
          for (const s of (callee.body as N).body as N[]) stmt(s)
          return
        }
        if (callee.type !== 'MemberExpression' || callee.computed || n.optional)
          return fail(n, 'call of something else than Math.f or .fill')
        const obj = callee.object as N
        const prop = String((callee.property as N).name)
        if (obj.type === 'Identifier' && obj.name === 'Math' && MATH_FUNCTIONS.has(prop)) {
          /* Math.f(…) */
        } else if (
          obj.type === 'Identifier' &&
          prop === 'fill' &&
          /^b\d+$/.test(String(obj.name))
        ) {
          /* bN.fill(…) */
        } else if (
          obj.type === 'Identifier' &&
          prop === 'set' &&
          /^b\d+$/.test(String(obj.name)) &&
          (n.arguments as N[]).length === 1 &&
          /^b\d+$/.test(String((n.arguments as N[])[0]!.name))
        ) {
          /* bN.set(bM): a copy between the step's own buffers */
        } else return fail(n, `call of ${String(obj.name)}.${prop}`)
        for (const a of n.arguments as N[]) expr(a)
        return
      }
      default:
        fail(n, 'expression kind not allowed')
    }
  }
  const member = (n: N) => {
    const obj = n.object as N
    if (n.optional) return fail(n, 'optional chaining')
    if (n.computed) {
      if (obj.type !== 'Identifier' || !/^(?:[BSH]|b\d+)$/.test(String(obj.name)))
        return fail(n, 'indexing something else than B, S, H or a buffer')
      return expr(n.property as N)
    }
    const prop = String((n.property as N).name)
    if (obj.type === 'Identifier' && /^b\d+$/.test(String(obj.name)) && prop === 'length') return
    if (obj.type === 'Identifier' && obj.name === 'Math' && MATH_FUNCTIONS.has(prop)) return
    fail(n, `property .${prop}`)
  }
  const decl = (n: N) => {
    if (n.kind !== 'const' && n.kind !== 'let') fail(n, 'var')
    for (const d of n.declarations as N[]) {
      ident(d.id as N)
      if (d.init) expr(d.init as N)
    }
  }
  const stmt = (n: N): void => {
    switch (n.type) {
      case 'VariableDeclaration':
        return decl(n)
      case 'ExpressionStatement':
        if (n.directive !== undefined) {
          if (n.directive !== 'use strict') fail(n, 'directive')
          return
        }
        return expr(n.expression as N)
      case 'BlockStatement':
        for (const s of n.body as N[]) stmt(s)
        return
      case 'ForStatement':
        if (n.init) {
          const i = n.init as N
          if (i.type === 'VariableDeclaration') decl(i)
          else expr(i)
        }
        if (n.test) expr(n.test as N)
        if (n.update) expr(n.update as N)
        return stmt(n.body as N)
      case 'EmptyStatement':
        return
      default:
        fail(n, 'statement kind not allowed')
    }
  }
  const fn = (n: N) => {
    if (n.type !== 'FunctionDeclaration' || n.async || n.generator)
      return fail(n, 'not a plain function')
    ident(n.id as N)
    for (const p of n.params as N[]) {
      if (p.type !== 'Identifier' || !/^[BSH]$/.test(String(p.name))) fail(p, 'parameter')
    }
    for (const s of (n.body as N).body as N[]) stmt(s)
  }
  for (const top of root.body as N[]) {
    if (top.type === 'FunctionDeclaration') fn(top)
    else if (top.type === 'ExportNamedDeclaration') {
      const d = top.declaration as N | null
      if (!d || top.source) fail(top, 'export form')
      else if (d.type === 'FunctionDeclaration') fn(d)
      else if (
        d.type === 'VariableDeclaration' &&
        d.kind === 'const' &&
        (d.declarations as N[]).length === 1
      ) {
        const v = (d.declarations as N[])[0]!
        if ((v.id as N).name !== 'meta') fail(v, 'only meta is exported as data')
        data(v.init as N)
      } else fail(d, 'export of something else')
    } else fail(top, 'top-level statement')
  }
  return bad
}

/** Comments may only hold words, numbers and brackets: no way out of a `//` or `/*` comment. */
function checkComments(code: string): string[] {
  const bad: string[] = []
  parse(code, {
    ecmaVersion: 2022,
    sourceType: 'module',
    onComment: (_block: boolean, text: string) => {
      if (!/^[\w\s[\],.;:()'`*/-]*$/.test(text) || text.includes('*/'))
        bad.push(`comment: ${text.slice(0, 60)}`)
    },
  })
  return bad
}

/** Problems with one emitted step body (`function (B, S, H) { body }`). */
export function checkStepBody(body: string): string[] {
  const code = `function f(B, S, H) {\n'use strict'\n${body}\n}`
  let tree: N
  try {
    tree = parse(code, { ecmaVersion: 2022, sourceType: 'script' }) as unknown as N
  } catch (e) {
    return [`does not parse: ${(e as Error).message}`]
  }
  return checkTree(tree)
    .filter((p) => !p.includes("identifier 'f'"))
    .concat(checkComments(code))
}

/** Problems with a whole emitted module (`normc compile --target js`). */
export function checkModule(js: string): string[] {
  let tree: N
  try {
    tree = parse(js, { ecmaVersion: 2022, sourceType: 'module' }) as unknown as N
  } catch (e) {
    return [`does not parse: ${(e as Error).message}`]
  }
  return [...checkTree(tree), ...checkComments(js)]
}

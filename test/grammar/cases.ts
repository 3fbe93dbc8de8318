// Malformed and ill-typed programs, each with every diagnostic it must produce, exactly:
// `LINE:COL: SEVERITY: MESSAGE` (of the file `t.norm`, or of the file named in `files`).

export interface BadProgram {
  name: string
  /** The text of `t.norm`; or several files checked together. */
  src: string | Record<string, string>
  expected: string[]
}

const deepParens = (n: number) => '('.repeat(n) + 'x' + ')'.repeat(n)

export const badPrograms: BadProgram[] = [
  // ---- names
  {
    name: 'unknown name',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x + z
  }
}`,
    expected: ["3:13: error: unknown name 'z'"],
  },
  {
    name: 'a use of a binding whose value had an error reports nothing more',
    src: `layer L(x: [N, C]) -> y {
  forward {
    a = x + z
    y = sum(a, [N])
  }
}`,
    expected: ["3:13: error: unknown name 'z'"],
  },
  {
    name: 'unknown function',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = softplus(x)
  }
}`,
    expected: ["3:9: error: unknown function 'softplus'"],
  },
  {
    name: 'a value called as a function',
    src: `layer L(x: [N, C]) -> y {
  param g: [C] = 1
  forward {
    y = g(x)
  }
}`,
    expected: ["4:9: error: 'g' is a param, not a function"],
  },
  {
    name: 'a function used as a value',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x * sqrt
  }
}`,
    expected: ["3:13: error: 'sqrt' is a function: call it, e.g. sqrt(…)"],
  },
  {
    name: 'an axis used as a value',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x / N
  }
}`,
    expected: ["3:13: error: 'N' is an axis, not a value; use count([N]) for its size"],
  },
  {
    name: 'a name used before it is bound',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x - mu
    mu = mean(x, [N])
  }
}`,
    expected: ["3:13: error: 'mu' is used before it is bound (at 4:5): bind it first"],
  },
  // ---- axes and shapes
  {
    name: 'unknown axis in a reduction',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = sum(x, [Q])
  }
}`,
    expected: ['3:17: error: unknown axis Q'],
  },
  {
    name: 'unknown axis in a param shape',
    src: `layer L(x: [N, C]) -> y {
  param w: [D] = 1
  forward {
    y = x
  }
}`,
    expected: ['2:13: error: unknown axis D in the shape of param w'],
  },
  {
    name: 'reduction over an axis the operand lacks',
    src: `layer L(x: [N, C]) -> y {
  forward {
    m = mean(x, [N])
    y = x - sum(m, [N])
  }
}`,
    expected: ['4:20: error: sum over axis N, but its operand has axes [C]'],
  },
  {
    name: 'reduction over a factor of an axis the operand has',
    src: `layer L(x: [N, C]) -> y {
  hyper groups = 4
  axis C = G * K
  axis G = groups
  forward {
    y = x - sum(x, [K])
  }
}`,
    expected: [
      "6:20: error: sum over axis K, but its operand has axes [N, C] (it has C: regroup with 'as')",
    ],
  },
  {
    name: 'an axis listed twice in a reduction',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x - mean(x, [N, N])
  }
}`,
    expected: ['3:25: error: axis N is listed twice'],
  },
  {
    name: 'param axes out of the canonical order',
    src: `layer L(x: [N, C]) -> y {
  param w: [C, N] = 1
  forward {
    y = x * w
  }
}`,
    expected: ["2:3: error: the axes of w must be in the layer's order: [N, C]"],
  },
  {
    name: 'bad as: a transposition',
    src: `layer L(x: [N, C]) -> y {
  axis C = G * K
  forward {
    y = (x as [N, K, G]) as [N, C]
  }
}`,
    expected: [
      "4:15: error: cannot regroup [N, C] as [N, K, G]: 'as' only splits or merges declared factorisations in place",
    ],
  },
  {
    name: 'bad as: different axes',
    src: `layer L(x: [N, C, H]) -> y {
  forward {
    y = x as [N, H, C]
  }
}`,
    expected: [
      "3:14: error: cannot regroup [N, C, H] as [N, H, C]: 'as' only splits or merges declared factorisations in place",
    ],
  },
  {
    name: 'broadcasting an axis against its own factor',
    src: `layer L(x: [N, C]) -> y {
  axis C = G * K
  forward {
    xg = x as [N, G, K]
    y = (xg + x) as [N, C]
  }
}`,
    expected: [
      "5:10: error: cannot broadcast axis G against C: one is a factor of the other; regroup one side with 'as'",
    ],
  },
  {
    name: 'declared output shape that differs',
    src: `layer L(x: [N, C]) -> y: [N] {
  forward {
    y = x
  }
}`,
    expected: ["3:5: error: output 'y' has axes [N, C], but its declared shape is [N]"],
  },
  {
    name: 'an axis size from something other than hypers',
    src: `layer L(x: [N, C]) -> y {
  axis C = G * K
  axis G = x
  forward {
    y = x
  }
}`,
    expected: ["3:12: error: an axis size may only use hypers and numbers, not 'x'"],
  },
  {
    name: 'factorising an axis the inputs do not have',
    src: `layer L(x: [N, C]) -> y {
  axis D = A * B
  forward {
    y = x
  }
}`,
    expected: [
      '2:8: error: axis D is not an axis of the inputs: only an existing axis can be factorised',
    ],
  },
  {
    name: 'factorising an axis twice',
    src: `layer L(x: [N, C]) -> y {
  axis C = G * K
  axis C = A * B
  forward {
    y = x
  }
}`,
    expected: ['3:8: error: axis C is already factorised'],
  },
  // ---- state and modes
  {
    name: 'state update in eval',
    src: `layer L(x: [N, C]) -> y {
  state s: [C] = 0
  train {
    y = x
    s <- mean(x, [N])
  }
  eval {
    y = x - s
    s <- mean(x, [N])
  }
}`,
    expected: ["9:5: error: state update 's <- …' is only allowed in a train block"],
  },
  {
    name: 'state update in forward',
    src: `layer L(x: [N, C]) -> y {
  state s: [C] = 0
  forward {
    y = x - s
    s <- mean(x, [N])
  }
}`,
    expected: ["5:5: error: state update 's <- …' is only allowed in a train block"],
  },
  {
    name: '<- to a param',
    src: `layer L(x: [N, C]) -> y {
  param g: [C] = 1
  train {
    y = x * g
    g <- mean(x, [N])
  }
  eval {
    y = x * g
  }
}`,
    expected: ["5:5: error: 'g' is not a state: only state buffers can be updated with <-"],
  },
  {
    name: '<- to a binding',
    src: `layer L(x: [N, C]) -> y {
  train {
    mu = mean(x, [N])
    y = x - mu
    mu <- mean(x, [N])
  }
  eval {
    y = x
  }
}`,
    expected: ["5:5: error: 'mu' is not a state: only state buffers can be updated with <-"],
  },
  {
    name: 'state updated twice',
    src: `layer L(x: [N, C]) -> y {
  state s: [C] = 0
  train {
    y = x
    s <- mean(x, [N])
    s <- sum(x, [N])
  }
  eval {
    y = x - s
  }
}`,
    expected: ["6:5: error: state 's' is updated twice in this block"],
  },
  {
    name: 'shape mismatch in <-',
    src: `layer L(x: [N, C]) -> y {
  state s: [C] = 0
  train {
    y = x
    s <- x * 0.5
  }
  eval {
    y = x - s
  }
}`,
    expected: ["5:10: error: state 's' has axes [C], but the update has axes [N, C]"],
  },
  {
    name: 'output missing in eval',
    src: `layer L(x: [N, C]) -> y {
  train {
    y = x
  }
  eval {
    z = x
  }
}`,
    expected: [
      "5:3: error: output 'y' is not bound in the eval block",
      "6:5: warning: 'z' is bound but never used",
    ],
  },
  {
    name: 'one output of two missing in forward',
    src: `layer L(x: [N, C]) -> y, z {
  forward {
    y = x
  }
}`,
    expected: ["2:3: error: output 'z' is not bound in the forward block"],
  },
  {
    name: 'forward plus train',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x
  }
  train {
    y = x
  }
}`,
    expected: [
      '5:3: error: a layer has either one forward block or both train and eval blocks, not both',
    ],
  },
  {
    name: 'train without eval',
    src: `layer L(x: [N, C]) -> y {
  train {
    y = x
  }
}`,
    expected: ['2:3: error: layer L has a train block but no eval block'],
  },
  {
    name: 'a layer without blocks',
    src: `layer L(x: [N, C]) -> y {
  hyper eps = 1
}`,
    expected: ['1:7: error: layer L has no block: add forward { … } or train { … } and eval { … }'],
  },
  {
    name: 'two train blocks',
    src: `layer L(x: [N, C]) -> y {
  train {
    y = x
  }
  train {
    y = x
  }
  eval {
    y = x
  }
}`,
    expected: ['5:3: error: duplicate train block'],
  },
  // ---- duplicates and shadowing
  {
    name: 'duplicate param',
    src: `layer L(x: [N, C]) -> y {
  param g: [C] = 1
  param g: [C] = 2
  forward {
    y = x * g
  }
}`,
    expected: ["3:9: error: duplicate declaration of 'g' (first declared at 2:9)"],
  },
  {
    name: 'duplicate hyper',
    src: `layer L(x: [N, C]) -> y {
  hyper eps = 1
  hyper eps = 2
  forward {
    y = x * eps
  }
}`,
    expected: ["3:9: error: duplicate declaration of 'eps' (first declared at 2:9)"],
  },
  {
    name: 'duplicate binding',
    src: `layer L(x: [N, C]) -> y {
  forward {
    a = x
    a = x * 2
    y = a
  }
}`,
    expected: ["4:5: error: 'a' is already bound at 3:5: bindings are immutable"],
  },
  {
    name: 'duplicate free axis',
    src: `layer L(x: [N, C]) -> y {
  axis H
  axis H
  forward {
    y = x
  }
}`,
    expected: ['3:8: error: duplicate declaration of axis H'],
  },
  {
    name: 'duplicate axis size',
    src: `layer L(x: [N, C]) -> y {
  hyper g = 2
  axis C = G * K
  axis G = g
  axis G = 4
  forward {
    y = x
  }
}`,
    expected: ['5:8: error: duplicate declaration of axis G'],
  },
  {
    // `axis N` declares N free (after the input axes), so x's declared order is not the layer's.
    name: 'an axis declaration for an input axis that reorders the input',
    src: `layer L(x: [N, C]) -> y {
  axis N
  forward {
    y = x
  }
}`,
    expected: [
      "1:9: error: the axes of x must be in the layer's order: [C, N] (axis N, declared at 2:8, is a free axis: it comes after the input axes)",
    ],
  },
  {
    name: 'an input over factors out of the order of their factorisation',
    src: `layer L(x: [N, C], g: [K, G]) -> y {
  axis C = G * K
  forward {
    y = x * (g as [C])
  }
}`,
    expected: [
      "1:20: error: the axes of g must be in the layer's order: [G, K] (axis K, declared at 2:16, is a factor of C: it stands where C stands)",
    ],
  },
  {
    name: 'duplicate layer',
    src: `layer L(x: [N]) -> y {
  forward {
    y = x
  }
}

layer L(x: [N]) -> y {
  forward {
    y = x
  }
}`,
    expected: ["7:7: error: duplicate layer 'L'"],
  },
  {
    name: 'duplicate output',
    src: `layer L(x: [N, C]) -> y, y {
  forward {
    y = x
  }
}`,
    expected: ["1:26: error: duplicate output 'y'"],
  },
  {
    name: 'an output with the name of an input',
    src: `layer L(x: [N, C]) -> x {
  forward {
    y = x
  }
}`,
    expected: [
      "1:23: error: output 'x' has the name of an input",
      "2:3: error: output 'x' is not bound in the forward block",
      "3:5: warning: 'y' is bound but never used",
    ],
  },
  {
    name: 'a binding shadowing an input',
    src: `layer L(x: [N, C]) -> y {
  forward {
    x = 1
    y = x
  }
}`,
    expected: ["3:5: error: 'x' would shadow the input 'x': bindings are immutable"],
  },
  {
    name: 'a binding shadowing a state',
    src: `layer L(x: [N, C]) -> y {
  state s: [C] = 0
  forward {
    s = mean(x, [N])
    y = x - s
  }
}`,
    expected: ["4:5: error: 's' would shadow the state 's': bindings are immutable"],
  },
  {
    name: 'a binding shadowing a builtin',
    src: `layer L(x: [N, C]) -> y {
  forward {
    exp = 1
    y = x
  }
}`,
    expected: ["3:5: error: 'exp' is a builtin function and cannot be rebound"],
  },
  {
    name: 'a param named like a builtin',
    src: `layer L(x: [N, C]) -> y {
  param abs: [C] = 1
  forward {
    y = x
  }
}`,
    expected: ["2:9: error: 'abs' is a builtin function and cannot be redeclared"],
  },
  // ---- builtins
  {
    name: 'wrong arity: sum',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = sum(x)
  }
}`,
    expected: [
      '3:9: error: sum takes 2 arguments, got 1 (sum(x, [axes]): sum over the listed axes)',
    ],
  },
  {
    name: 'wrong arity: max',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = max(x, [N], [C])
  }
}`,
    expected: ['3:9: error: max takes 2 arguments, got 3 (max(x, [axes]) or max(a, b))'],
  },
  {
    name: 'wrong arity: count',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x / count([N], [C])
  }
}`,
    expected: [
      '3:13: error: count takes 1 argument, got 2 (count([axes]): the number of elements the axes span)',
    ],
  },
  {
    name: 'wrong arity: lerp',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = lerp(x, x)
  }
}`,
    expected: ['3:9: error: lerp takes 3 arguments, got 2 (lerp(a, b, t) = a + t * (b - a))'],
  },
  {
    name: 'wrong arity: clamp',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = clamp(x, 0, 1, 2)
  }
}`,
    expected: ['3:9: error: clamp takes 3 arguments, got 4 (clamp(x, lo, hi))'],
  },
  {
    name: 'wrong arity: stop_gradient',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x * stop_gradient()
  }
}`,
    expected: [
      '3:13: error: stop_gradient takes 1 argument, got 0 (stop_gradient(e): e, with a zero derivative)',
    ],
  },
  {
    name: 'wrong arity: a one-argument function',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = rsqrt(x, 1)
  }
}`,
    expected: ['3:9: error: rsqrt takes 1 argument, got 2 (reciprocal square root, 1 / sqrt(x))'],
  },
  {
    name: 'wrong arity: a comparison',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x * ge(x)
  }
}`,
    expected: ['3:13: error: ge takes 2 arguments, got 1 (ge(a, b): 1 where a >= b, else 0)'],
  },
  {
    name: 'an axis list where a value is expected',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x + [N]
  }
}`,
    expected: ['3:13: error: an axis list is not a value here'],
  },
  {
    name: 'an axis list bound to a name',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = [N]
  }
}`,
    expected: ['3:9: error: an axis list is not a value: use it as an argument, e.g. sum(x, [N])'],
  },
  {
    name: 'count of a value, not axes',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x / count(x)
  }
}`,
    expected: ['3:19: error: count takes an axis list, e.g. count([N, H, W])'],
  },
  {
    name: 'a reduction whose second argument is a value',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = mean(x, x)
  }
}`,
    expected: ['3:17: error: the second argument of mean must be an axis list, e.g. mean(x, [N])'],
  },
  // ---- hypers and numbers
  {
    name: 'a hyper that is not a constant',
    src: `layer L(x: [N, C]) -> y {
  hyper h = x
  forward {
    y = x
  }
}`,
    expected: ['2:13: error: the value of hyper h must be a constant number'],
  },
  {
    name: 'number too large in a statement',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x * 1e999
  }
}`,
    expected: ['3:13: error: number 1e999 is too large for a float64'],
  },
  {
    name: 'number too large in a hyper',
    src: `layer L(x: [N, C]) -> y {
  hyper big = 2e308
  forward {
    y = x
  }
}`,
    expected: ['2:15: error: number 2e308 is too large for a float64'],
  },
  // ---- specs
  {
    name: 'spec for an unknown layer',
    src: `spec BatchNorm3d train {
  dx = dy
}`,
    expected: ["1:6: error: spec for unknown layer 'BatchNorm3d'"],
  },
  {
    name: 'spec binding with the wrong axes',
    src: `layer L(x: [N, C]) -> y {
  param g: [C] = 1
  forward {
    y = x * g
  }
}

spec L forward {
  dg = sum(dy * x, [N, C])
  dx = dy * g
}`,
    expected: ["9:3: error: 'dg' has axes [], but g has axes [C]"],
  },
  {
    name: 'spec in its own file, resolved against the layer file',
    src: {
      'layer.norm': `layer L(x: [N, C]) -> y {
  forward {
    y = x
  }
}
`,
      'spec.norm': `spec L forward {
  dx = sum(dy, [N])
}
`,
    },
    expected: ["spec.norm:2:3: error: 'dx' has axes [C], but x has axes [N, C]"],
  },
  {
    name: 'spec naming forward for a train/eval layer',
    src: `layer L(x: [N, C]) -> y {
  train {
    y = x
  }
  eval {
    y = x
  }
}

spec L forward {
  dx = dy
}`,
    expected: ['10:8: error: layer L has train and eval blocks: a spec names one of them'],
  },
  {
    name: 'spec using dy for a layer with several outputs',
    src: `layer L(x: [N, C]) -> y, z {
  forward {
    y = x
    z = x
  }
}

spec L forward {
  dx = dy
}`,
    expected: ["9:8: error: unknown name 'dy': the upstream gradients of L are dy_y, dy_z"],
  },
  {
    name: 'duplicate spec',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x
  }
}

spec L forward {
  dx = dy
}

spec L forward {
  dx = dy
}`,
    expected: ['11:8: error: duplicate spec L forward'],
  },
  {
    name: 'spec using a binding of the layer block',
    src: `layer L(x: [N, C]) -> y {
  forward {
    mu = mean(x, [N])
    y = x - mu
  }
}

spec L forward {
  dx = dy - mu
}`,
    expected: [
      "9:13: error: unknown name 'mu': a spec sees the layer's inputs, params, hypers and state, not the bindings of its blocks",
    ],
  },
  // ---- syntax
  {
    name: 'unterminated block',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x
`,
    expected: ["4:1: error: unexpected end of file: expected '}' (the '{' at 2:11 is not closed)"],
  },
  {
    name: 'unterminated parenthesis',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = (x + 1
  }
}`,
    expected: ["4:3: error: expected ')' but found '}' (the '(' at 3:9 is not closed)"],
  },
  {
    name: 'stray token',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x )
  }
}`,
    expected: [
      "3:11: error: unexpected ')': expected a statement (name = expr or name <- expr) or '}'",
    ],
  },
  {
    name: 'stray closing brace at the top level',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x
  }
}
}`,
    expected: ["6:1: error: unexpected '}': expected a 'layer' or 'spec'"],
  },
  {
    name: 'a missing operand',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x *
  }
}`,
    expected: ["4:3: error: unexpected '}': expected an expression"],
  },
  {
    name: 'missing ->',
    src: `layer L(x: [N, C]) y {
  forward {
    y = x
  }
}`,
    expected: ["1:20: error: expected '->' but found 'y'"],
  },
  {
    name: 'missing layer name',
    src: `layer (x: [N, C]) -> y {
  forward {
    y = x
  }
}`,
    expected: ["1:7: error: expected a name but found '('"],
  },
  {
    name: 'an unknown declaration keyword',
    src: `layer L(x: [N, C]) -> y {
  buffer b: [C] = 0
  forward {
    y = x
  }
}`,
    expected: [
      "2:3: error: unexpected 'buffer': expected a declaration (hyper, param, state, axis), a block (train, eval, forward) or '}'",
    ],
  },
  {
    name: 'a keyword used as a name',
    src: `layer L(x: [N, C]) -> y {
  forward {
    eval = mean(x, [N])
    y = x
  }
}`,
    expected: ["3:5: error: 'eval' is a keyword and cannot be used as a name"],
  },
  {
    name: '== instead of =',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y == x
  }
}`,
    expected: [
      "3:8: error: unexpected '=': expected an expression",
      "4:3: error: unexpected '}': expected a statement (name = expr or name <- expr)",
    ],
  },
  {
    name: 'a number with two decimal points',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x * 1.2.3
  }
}`,
    expected: ["3:13: error: malformed number '1.2.3'"],
  },
  {
    name: 'a stray ASCII character',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x @ x
  }
}`,
    expected: ["3:11: error: unexpected character '@'"],
  },
  {
    name: 'a Cyrillic look-alike letter in a name',
    src: `layer L(x: [N, \u0421]) -> y {
  forward {
    y = x
  }
}`,
    expected: [
      "1:16: error: unexpected character 'С' (U+0421): names are ASCII letters, digits and _",
    ],
  },
  {
    name: 'a Unicode minus sign',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x \u2212 1
  }
}`,
    expected: ["3:11: error: unexpected character '−' (U+2212): did you mean '-'?"],
  },
  {
    name: 'a Greek name',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x * \u03b3\u03b1\u03bc\u03bc\u03b1
  }
}`,
    expected: ["3:13: error: unexpected characters 'γαμμα': names are ASCII letters, digits and _"],
  },
  {
    name: 'a no-break space',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = x +\u00a0x
  }
}`,
    expected: ['3:12: error: unexpected character U+00A0: did you mean a space?'],
  },
  {
    name: '300-deep parentheses',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = ${deepParens(300)}
  }
}`,
    expected: ['3:207: error: expression nested too deeply (more than 200 levels)'],
  },
  {
    name: '100,000-deep parentheses',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = ${deepParens(100_000)}
  }
}`,
    expected: ['3:207: error: expression nested too deeply (more than 200 levels)'],
  },
  {
    name: '100,000 unclosed brackets',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = ${'['.repeat(100_000)}
  }
}`,
    expected: ['3:207: error: expression nested too deeply (more than 200 levels)'],
  },
  {
    name: '300 unary minus signs',
    src: `layer L(x: [N, C]) -> y {
  forward {
    y = ${'-'.repeat(300)}x
  }
}`,
    expected: ['3:207: error: expression nested too deeply (more than 200 levels)'],
  },
]

// The subcommands of normc, in the order `normc --help` lists them.

import type { Command } from '../command.js'
import { fmt } from './fmt.js'
import { grad } from './grad.js'
import { lint } from './lint.js'
import { run } from './run.js'
import { plan } from './plan.js'
import { compileCmd } from './compile.js'

export const commands: Command[] = [lint, fmt, grad, run, plan, compileCmd]

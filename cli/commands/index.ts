// The subcommands of normc, in the order `normc --help` lists them.

import type { Command } from '../command.js'
import { check } from './check.js'
import { fmt } from './fmt.js'
import { grad } from './grad.js'
import { lint } from './lint.js'
import { run } from './run.js'
import { plan } from './plan.js'
import { compileCmd } from './compile.js'
import { graph } from './graph.js'
import { init } from './init.js'

export const commands: Command[] = [init, lint, fmt, grad, check, run, plan, graph, compileCmd]

// The subcommands of normc, in the order `normc --help` lists them.

import type { Command } from '../command.js'
import { lint } from './lint.js'

export const commands: Command[] = [lint]

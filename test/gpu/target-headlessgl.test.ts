// The gpu target on headless-gl (Mesa llvmpipe under xvfb-run): required under CI=true.
import { defineTargetSuite } from './target-suite.js'

await defineTargetSuite('headlessgl', 'Node headlessgl', true)

// Tolerance helpers for the benchmark tests (shared with the harness's cross-check).

export { relErr } from '../../bench/stats.js'

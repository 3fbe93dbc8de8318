// What the page and the worker share (no compiler code: the page's bundle stays small).

/** The file name of the editor's text in diagnostics. */
export const EDITOR_FILE = 'playground.norm'

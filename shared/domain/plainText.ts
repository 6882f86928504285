/**
 * Text that people wrote (justifications, tickets, comments, reasons) and text taken from outside
 * (role names on the HSM) is shown as typed, on every channel. Markup is each channel's business
 * (HTML escaping, Adaptive Card TextRuns); what is the same everywhere is here: characters that
 * change how text around them is displayed are made visible instead.
 */

/**
 * Unicode bidi controls (ALM, LRM, RLM, embeddings, overrides, isolates): they can reorder what a
 * reader sees ("evil.example" shown as "elpmaxe.live") without changing what is stored.
 */
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;
/** C0 and C1 control characters other than tab and line breaks, and the BOM. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F\uFEFF]/gu;
/** Every way text may start a new line: CR, LF, VT, FF, NEL, line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const LINE_BREAKS = /\r\n|[\n\r\u000B\u000C\u0085\u2028\u2029]/gu;

const codePoint = (ch: string): string => `[U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`;

/** The text with bidi and control characters shown as `[U+202E]`; line breaks become `\n`. */
export function visibleText(text: unknown): string {
  return String(text ?? '').replace(BIDI_CONTROLS, codePoint).replace(CONTROLS, codePoint).replace(LINE_BREAKS, '\n');
}

/** Where a line break would let text pose as a line of the message's own (a fact, a link), it is shown as ` ↵ `. */
export function oneLineText(text: unknown): string {
  return visibleText(text).replace(/\n/g, ' ↵ ').replace(/\t/g, ' ');
}

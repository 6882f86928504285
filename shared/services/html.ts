import { visibleText } from '../domain/plainText';

/**
 * Text made safe for HTML element content and quoted attribute values: nothing in it is markup, and
 * bidi or control characters are shown rather than obeyed.
 */
export function escapeHtml(text: unknown): string {
  return visibleText(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

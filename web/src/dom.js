// Building the page: elements are made with h() and text nodes, never from HTML strings, so no
// value from the server or the user is ever read as markup.

/**
 * An element with attributes (`on*` functions become listeners, `class`, others as attributes)
 * and children (strings become text, null and false are skipped).
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The main area of the page, emptied, with a title. */
export function page(title, ...children) {
  document.title = `${title} · Sluice`;
  const main = /** @type {HTMLElement} */ (document.getElementById('app'));
  return fill(main, h('h1', {}, title), ...children);
}

/** A date-time as the reader's local time. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** An error box (for an API error: its message and code). */
export function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e));
}

/** A JSON value, pretty-printed in a <pre>. */
export function jsonBlock(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

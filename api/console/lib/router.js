// Path-based routing with the History API. The server answers every page
// address with index.html (api/src/console.rs), so /requests/<id> and
// /invite/<token> work as links from e-mails.
import { html, useEffect, useReducer } from './html.js';

const listeners = new Set();
const notify = () => listeners.forEach((fn) => fn());
window.addEventListener('popstate', notify);

/** Goes to `path` (with an optional `?query`) without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  window.scrollTo(0, 0);
  notify();
}

/** The current location; re-renders the caller when it changes. */
export function useLocation() {
  const [, force] = useReducer((x) => x + 1, 0);
  useEffect(() => { listeners.add(force); return () => listeners.delete(force); }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/**
 * The route that matches `path`: `routes` maps patterns such as
 * `/requests/:id` to pages. Returns `{ page, params }` or null.
 */
export function match(routes, path) {
  const parts = path.replace(/\/+$/, '').split('/');
  for (const [pattern, page] of Object.entries(routes)) {
    const want = pattern.replace(/\/+$/, '').split('/');
    if (want.length !== parts.length) continue;
    const params = {};
    if (want.every((w, i) => (w.startsWith(':') ? (params[w.slice(1)] = decodeURIComponent(parts[i]), true) : w === parts[i]))) {
      return { page, params };
    }
  }
  return null;
}

/** An in-app link: a real <a href> (keyboard, new tab) that navigates without reloading. */
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  const current = location.pathname === href ? 'page' : undefined;
  return html`<a href=${href} onClick=${onClick} aria-current=${current} ...${rest}>${children}</a>`;
}

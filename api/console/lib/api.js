// GraphQL over HTTP: the console is a client of the public API, nothing more.
//
// Every operation the console sends is a constant made with the gql tag
// (plain text, no interpolation)
// so that tests/browser/operations.mjs can find each one and validate it
// against schema.graphql in CI: a schema change that breaks a page fails the
// build instead of a person's afternoon.

const TOKEN_KEY = 'countersign.token';

/** Marks a GraphQL document. Plain text only: no interpolation. */
export function gql(strings, ...rest) {
  if (rest.length) throw new Error('gql documents take no interpolation; use variables');
  return strings[0];
}

/** A GraphQL error, with the stable `extensions.code` the API gives it. */
export class ApiError extends Error {
  constructor(message, code, details) {
    super(message);
    this.code = code || 'ERROR';
    this.details = details || {};
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY)),
};

const unauthenticated = new Set();
/** Called when the API says the session is gone (signed out, expired, idle). */
export function onUnauthenticated(fn) { unauthenticated.add(fn); }

/** Runs one operation; resolves to `data`, rejects with an ApiError. */
export async function request(query, variables) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json' };
  const t = token.get();
  if (t) headers.Authorization = 'Bearer ' + t;
  let res;
  try {
    res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  } catch (e) {
    throw new ApiError('The server cannot be reached. Check your connection and try again.', 'NETWORK');
  }
  const body = await res.json().catch(() => null);
  if (!body) throw new ApiError(`The server answered ${res.status} without a GraphQL response.`, 'HTTP_' + res.status);
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const code = e.extensions && e.extensions.code;
    if (code === 'UNAUTHENTICATED' && t) unauthenticated.forEach((fn) => fn());
    throw new ApiError(e.message, code, e.extensions);
  }
  return body.data;
}

/** A one-line description of an error for a person. */
export function errorText(e) {
  if (!e) return '';
  return e instanceof ApiError && e.code !== 'ERROR' ? `${e.message} (${e.code})` : String(e.message || e);
}

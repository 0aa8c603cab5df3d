// How amounts, times and people read on screen. Amounts arrive as decimal
// strings and are formatted as strings: no floating point touches money.

/** Groups thousands and shows exactly `decimals` places: "1234.5" → "1,234.50". */
export function amount(value, decimals = 2) {
  if (value === null || value === undefined || value === '') return '—';
  let s = String(value);
  const negative = s.startsWith('-');
  if (negative) s = s.slice(1);
  let [whole, frac = ''] = s.split('.');
  whole = whole.replace(/^0+(?=\d)/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  frac = decimals > 0 ? (frac + '0'.repeat(decimals)).slice(0, Math.max(decimals, frac.replace(/0+$/, '').length)) : '';
  return (negative ? '-' : '') + whole + (frac ? '.' + frac : '');
}

/** A USD figure: "12,500.00 USD". */
export const usd = (value) => (value === null || value === undefined ? '—' : amount(value, 2) + ' USD');

/** An amount of an asset in its precision (2 places if unknown): "1,000.000000 USDC". */
export function money(value, asset, decimals) {
  return amount(value, decimals ?? (asset === 'BTC' ? 8 : asset === 'ETH' ? 6 : 2)) + (asset ? ' ' + asset : '');
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** A moment in the reader's time zone. */
export const when = (iso) => (iso ? dateTime.format(new Date(iso)) : '—');
export const day = (iso) => (iso ? dateOnly.format(new Date(iso)) : '—');

/** Who acted: a person's name and e-mail, a service user's name, or the system. */
export function actor(a) {
  if (!a) return '—';
  if (a.user) return a.user.name ? `${a.user.name} <${a.user.email}>` : a.user.email;
  return a.name || (a.kind === 'SERVICE_USER' ? 'a service user' : a.kind.toLowerCase());
}

/** "INITIATE_WITHDRAWAL" → "Initiate withdrawal". */
export function words(constant) {
  if (!constant) return '';
  const s = String(constant).toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Shortens an id or address for a table cell; the whole value goes in a title. */
export const short = (s, keep = 8) => (s && s.length > keep * 2 + 1 ? s.slice(0, keep) + '…' + s.slice(-4) : s || '');

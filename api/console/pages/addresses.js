// addresses.js: placeholder of the console shell, to be written.
import { html } from '../lib/html.js';
import { PageTitle } from '../lib/ui.js';
export function AddressesPage() { return html`<${PageTitle}>AddressesPage<//><p class="muted">Not built yet.</p>`; }

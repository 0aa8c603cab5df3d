// approvals.js: placeholder of the console shell, to be written.
import { html } from '../lib/html.js';
import { PageTitle } from '../lib/ui.js';
export function ApprovalsPage() { return html`<${PageTitle}>ApprovalsPage<//><p class="muted">Not built yet.</p>`; }
export function HistoryPage() { return html`<${PageTitle}>HistoryPage<//><p class="muted">Not built yet.</p>`; }
/** How many pending requests `userId` may approve in `orgId` (the navigation badge). */
export async function pendingForViewer() { return 0; }

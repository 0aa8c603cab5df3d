//! Reach: every field reachable from an organisation, read by everyone who
//! can reach it, answers exactly what its rule allows.
//!
//! The schema is read by introspection; from the roots `organization(id)`
//! and `request(id)` every object field is walked (depth-limited, never
//! entering a type twice on one path), and each field path becomes one
//! query. Each query runs as the Owner (the control: everything answers), a
//! SIGNER (VIEW only on withdrawals), a MAKER (no VIEW on MANAGE_ACCESS or
//! MANAGE_POLICIES), a service user of each scope, and a member and a
//! service user of another organisation (every path `NOT_FOUND`).
//!
//! The oracle is [`RULES`]: every field that returns an object or a list is
//! classified by the rule that gates it, and scalars not named there must
//! answer whoever reaches their parent. A field missing from the table fails
//! the walk with "classify Type.field", so a new relation field cannot slip
//! in unreviewed.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use tests::{Backend, Session, TestApp, base_type as base, both_backends, spawn_with};

/// What gates a field, given that its parent was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Whoever reached the parent (lists a caller may not read are filtered, not refused).
    Any,
    /// People only: `FORBIDDEN` to a service user.
    Person,
    /// Any member; a service user with QUERY_FUNDS or WITHDRAW.
    FundsView,
    /// VIEW on MANAGE_ACCESS (the audit trail, service users, invitations).
    AccessView,
    /// VIEW on MANAGE_ADDRESSES or on withdrawals; a key with WITHDRAW.
    AddressView,
    /// Members with VIEW on withdrawals; a service user whose key has the scope.
    AccountRead(&'static str),
    /// The caller's own membership: `NOT_FOUND` to a service user.
    OwnMembership,
    /// A member's grants and delegations: the member themselves, or VIEW on MANAGE_ACCESS.
    OwnOrAccessView,
}

use Rule::*;

/// Every object- or list-returning field reachable from an organisation,
/// and the scalars whose rule is stricter than their parent's.
const RULES: &[(&str, Rule)] = &[
    // Organization
    ("Organization.withdrawalWindow", Any),
    ("Organization.accounts", Any),
    ("Organization.balanceAlert", FundsView),
    ("Organization.balanceAlertHistory", FundsView),
    ("Organization.addresses", AddressView),
    ("Organization.treasuryReadiness", Any),
    ("Organization.limits", FundsView),
    ("Organization.outflowHistory", FundsView),
    ("Organization.usage", FundsView),
    ("Organization.serviceUsers", AccessView),
    ("Organization.members", Person),
    ("Organization.viewerMember", OwnMembership),
    ("Organization.policies", FundsView),
    ("Organization.requests", Any),
    ("Organization.invitations", AccessView),
    ("Organization.auditActions", AccessView),
    ("Organization.auditLog", AccessView),
    ("Organization.auditLogCsv", AccessView),
    ("Organization.auditLogJson", AccessView),
    ("Organization.auditVerification", AccessView),
    ("Organization.webhookEndpoints", AccessView),
    ("Organization.webhookDeliveries", AccessView),
    ("WebhookEndpoint.deliveries", Any),
    ("WebhookEndpoint.events", Any),
    ("WithdrawalWindow.days", Any),
    ("TreasuryReadiness.missingRoles", Any),
    ("OutflowSeries.days", Any),
    // Accounts
    ("Account.holdings", AccountRead("QUERY_FUNDS")),
    ("Account.ledger", AccountRead("QUERY_LEDGER")),
    ("Account.deposits", AccountRead("DEPOSIT")),
    ("Account.ledgerCsv", AccountRead("EXPORT_DATA")),
    ("LedgerEntryConnection.edges", Any),
    ("LedgerEntryConnection.nodes", Any),
    ("LedgerEntryConnection.pageInfo", Any),
    ("LedgerEntryEdge.node", Any),
    // Members and people
    ("Member.user", Any),
    ("Member.roles", Any),
    ("Member.grants", OwnOrAccessView),
    ("Member.delegationsGiven", OwnOrAccessView),
    ("Member.delegationsReceived", OwnOrAccessView),
    ("Member.signerUsage", FundsView),
    ("Member.approvalThresholdUsd", FundsView),
    ("User.email", Person),
    ("User.name", Person),
    // Service users (reached through serviceUsers: VIEW on MANAGE_ACCESS)
    ("ServiceUser.keys", AccessView),
    ("ApiKey.scopes", Any),
    ("ApiKey.accountIds", Any),
    ("ApiKey.ipAllowlist", Any),
    ("ApiKey.usage", FundsView),
    ("Invitation.roles", Any),
    ("Invitation.invitedBy", Any),
    // Audit
    ("AuditRecordConnection.edges", Any),
    ("AuditRecordConnection.nodes", Any),
    ("AuditRecordConnection.pageInfo", Any),
    ("AuditRecordEdge.node", Any),
    // Requests (reached only where visible: the queue filters, `request(id)` refuses)
    ("RequestConnection.edges", Any),
    ("RequestConnection.nodes", Any),
    ("RequestConnection.pageInfo", Any),
    ("RequestEdge.node", Any),
    ("Request.requester", Any),
    ("Request.approvals", Any),
    ("Request.eligibleApprovers", Any),
    ("Request.withdrawal", Any),
    ("Request.history", AccessView),
    ("Request.decidedBy", Any),
    ("Approval.approver", Any),
    ("Actor.user", Any),
    ("Withdrawal.address", Any),
    ("Withdrawal.executor", Any),
];

/// Deeper than this the walk stops (the server refuses depth 12).
const MAX_DEPTH: usize = 9;

const SCOPES: &[&str] = &[
    "QUERY_FUNDS",
    "EARN",
    "DEPOSIT",
    "WITHDRAW",
    "QUERY_OPEN_ORDERS",
    "QUERY_CLOSED_ORDERS",
    "CREATE_MODIFY_ORDERS",
    "CANCEL_CLOSE_ORDERS",
    "QUERY_LEDGER",
    "EXPORT_DATA",
];

const INTROSPECT: &str = "{ __schema { types { name kind
  fields { name args { name defaultValue type { ...T } } type { ...T } } enumValues { name } } } }
  fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// Who reads.
#[derive(Clone, Debug)]
enum Who {
    /// A member holding VIEW on these workflows (the Owner: all of them).
    Member { name: &'static str, session: Session, views: &'static [&'static str] },
    /// One of the organisation's service users, by its key's only scope.
    Key { scope: &'static str, key: (String, String) },
    /// A member of another organisation.
    Outsider(Session),
    /// A service user of another organisation.
    OutsideKey((String, String)),
}

impl Who {
    fn label(&self) -> String {
        match self {
            Who::Member { name, .. } => (*name).to_string(),
            Who::Key { scope, .. } => format!("a {scope} key"),
            Who::Outsider(_) => "another organisation's member".into(),
            Who::OutsideKey(_) => "another organisation's key".into(),
        }
    }
    fn views(&self, workflow: &str) -> bool {
        match self {
            Who::Member { views, .. } => views.contains(&workflow),
            // A key's only permissions: VIEW (and INITIATE) on withdrawals with WITHDRAW.
            Who::Key { scope, .. } => workflow == "INITIATE_WITHDRAWAL" && *scope == "WITHDRAW",
            _ => false,
        }
    }
    fn scope(&self) -> Option<&'static str> {
        match self {
            Who::Key { scope, .. } => Some(scope),
            _ => None,
        }
    }

    /// What `rule` answers this caller at the end of `path` (`Ok(())`, or the refusal's code).
    fn allowed(&self, rule: Rule, path: &[String]) -> Result<(), &'static str> {
        let member = matches!(self, Who::Member { .. });
        let ok = match rule {
            Any => true,
            Person => member,
            FundsView => member || matches!(self.scope(), Some("QUERY_FUNDS" | "WITHDRAW")),
            AccessView => self.views("MANAGE_ACCESS"),
            AddressView => self.views("MANAGE_ADDRESSES") || self.views("INITIATE_WITHDRAWAL"),
            AccountRead(scope) => match self.scope() {
                Some(s) => s == scope,
                None => self.views("INITIATE_WITHDRAWAL"),
            },
            OwnMembership => {
                if !member {
                    return Err("NOT_FOUND");
                }
                true
            }
            // Through `viewerMember` the member is the caller; the member
            // list holds others (the Owner, for everyone else).
            OwnOrAccessView => {
                if !member {
                    return Err("FORBIDDEN");
                }
                self.views("MANAGE_ACCESS") || path.iter().any(|p| p == "viewerMember")
            }
        };
        if ok { Ok(()) } else { Err("FORBIDDEN") }
    }
}

/// One field of an object type.
#[derive(Clone, Debug)]
struct Field {
    name: String,
    /// The named type under list and non-null wrappers, and its kind.
    kind: String,
    ty: String,
    list: bool,
    /// Arguments without a default that must be given.
    required: Vec<String>,
}

fn object_types(schema: &Value) -> BTreeMap<String, Vec<Field>> {
    let mut out = BTreeMap::new();
    for t in schema["__schema"]["types"].as_array().unwrap() {
        if t["kind"] != "OBJECT" {
            continue;
        }
        let fields = t["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let (kind, ty, list) = base(&f["type"]);
                let required = f["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null())
                    .map(|a| a["name"].as_str().unwrap().to_string())
                    .collect();
                Field { name: f["name"].as_str().unwrap().to_string(), kind, ty, list, required }
            })
            .collect();
        out.insert(t["name"].as_str().unwrap().to_string(), fields);
    }
    out
}

/// One walked path: `(owner type, field)` per step below the root.
type Path = Vec<(String, Field)>;

fn walk(types: &BTreeMap<String, Vec<Field>>, ty: &str, path: &mut Path, seen: &mut Vec<String>, out: &mut Vec<Path>) {
    if path.len() >= MAX_DEPTH {
        return;
    }
    for f in &types[ty] {
        assert!(
            f.required.is_empty(),
            "{ty}.{} takes required arguments {:?}: give the walk values",
            f.name,
            f.required
        );
        let key = format!("{ty}.{}", f.name);
        let rule = RULES.iter().find(|(k, _)| *k == key);
        if (f.kind == "OBJECT" || f.list) && rule.is_none() {
            panic!("classify {key}: add it to RULES with the rule that gates it");
        }
        path.push((ty.to_string(), f.clone()));
        out.push(path.clone());
        if f.kind == "OBJECT" && !seen.contains(&f.ty) {
            seen.push(f.ty.clone());
            walk(types, &f.ty, path, seen, out);
            seen.pop();
        }
        path.pop();
    }
}

fn rule_of(ty: &str, field: &str) -> Rule {
    let key = format!("{ty}.{field}");
    RULES.iter().find(|(k, _)| *k == key).map_or(Any, |(_, r)| *r)
}

/// The query for a path under `root` (`organization(id:$id)` or `request(id:$id)`).
fn query(root: &str, path: &Path) -> String {
    let mut q = String::from("__typename");
    for (i, (_, f)) in path.iter().enumerate().rev() {
        q = if i == path.len() - 1 && f.kind != "OBJECT" { f.name.clone() } else { format!("{} {{ {q} }}", f.name) };
    }
    format!("query($id: ID!) {{ {root}(id: $id) {{ {q} }} }}")
}

/// Whether the answer holds a non-null value at the end of the path.
fn reached(data: &Value, names: &[String]) -> bool {
    match names.split_first() {
        None => match data {
            Value::Array(items) => items.iter().any(|i| !i.is_null()),
            other => !other.is_null(),
        },
        Some((n, rest)) => match data {
            Value::Array(items) => items.iter().any(|i| reached(i, names)),
            Value::Object(o) => o.get(n).is_some_and(|v| reached(v, rest)),
            _ => false,
        },
    }
}

fn error_codes(body: &Value) -> BTreeSet<String> {
    body["errors"]
        .as_array()
        .map(|es| es.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("none").to_string()).collect())
        .unwrap_or_default()
}

async fn run(app: &TestApp, who: &Who, nonce: &mut u64, q: &str, vars: &Value) -> Value {
    *nonce += 1;
    match who {
        Who::Member { session, .. } | Who::Outsider(session) => app.gql(Some(&session.token), q, vars.clone()).await,
        Who::Key { key, .. } | Who::OutsideKey(key) => app.signed(key, *nonce, q, vars.clone()).await.1,
    }
}

async fn key(app: &TestApp, owner: &Session, org: &str, name: &str, scope: &str) -> (String, String) {
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!,$i:ServiceUserInput!){ createServiceUser(orgId:$o,input:$i){ apiKey{ keyId secret } } }",
            json!({"o": org, "i": {"name": name, "scopes": [scope]}}),
        )
        .await;
    let k = &d["createServiceUser"]["apiKey"];
    (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string())
}

async fn every_reachable_field_answers_by_its_rule(backend: Backend) {
    let app = spawn_with(backend, |c| {
        c.rate_limit_per_minute = 1_000_000;
        c.rate_limit_burst = 100_000;
    })
    .await;
    // An organisation with one of everything a field can show.
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, approver_member) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, signer_member) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    let op = Some("operator-test-token");
    app.ok(op, "mutation{ setAssetPrice(asset:\"USDC\",usdPrice:\"1\"){ symbol } }", json!({})).await;
    app.credit(&account, "USDC", "10000", "custody-1").await;
    let owner_t = Some(owner.token.as_str());
    let completed = |d: &Value, f: &str| assert_eq!(d[f]["request"]["status"], "COMPLETED", "{f}: {d}");
    let d = app.ok(owner_t, "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }", json!({"o": org})).await;
    completed(&d, "setPolicy");
    let window = json!({"timeZone": "UTC", "days": ["MON","TUE","WED","THU","FRI","SAT","SUN"], "opens": "00:00", "closes": "24:00"});
    let d = app
        .ok(
            owner_t,
            "mutation($o:ID!,$w:WithdrawalWindowInput){ setWithdrawalWindow(orgId:$o,input:$w){ request{ status } } }",
            json!({"o": org, "w": window}),
        )
        .await;
    completed(&d, "setWithdrawalWindow");
    let d = app
        .ok(
            owner_t,
            "mutation($o:ID!){ setBalanceAlert(orgId:$o,thresholdUsd:\"100\"){ request{ status } } }",
            json!({"o": org}),
        )
        .await;
    completed(&d, "setBalanceAlert");
    let d = app.ok(owner_t, "mutation($o:ID!,$m:ID!){ setRiskLimits(orgId:$o,input:{layer:SIGNER,memberId:$m,dailyCapUsd:\"5000\",approvalThresholdUsd:\"100\"}){ request{ status } } }", json!({"o": org, "m": signer_member})).await;
    completed(&d, "setRiskLimits");
    let d = app.ok(owner_t, "mutation($o:ID!,$m:ID!){ grantPermission(orgId:$o,memberId:$m,workflow:MANAGE_POLICIES,action:VIEW){ request{ status } } }", json!({"o": org, "m": approver_member})).await;
    completed(&d, "grantPermission");
    let until = (app.now() + chrono::Duration::days(7)).to_rfc3339();
    let d = app
        .ok(
            Some(&approver.token),
            "mutation($o:ID!,$i:DelegationInput!){ delegateApproval(orgId:$o,input:$i){ request{ status } } }",
            json!({"o": org, "i": {"toMemberId": signer_member, "workflow": "INITIATE_WITHDRAWAL", "until": until}}),
        )
        .await;
    completed(&d, "delegateApproval");
    app.invite(&owner, &org, "pending@example.com", &["APPROVER"]).await;
    // Withdrawals: one waiting, one executed, one rejected.
    let withdraw = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";
    let input = json!({"o": org, "i": {"accountId": account, "asset": "USDC", "amount": "10", "addressId": address}});
    let mut ids = Vec::new();
    for _ in 0..3 {
        let d = app.ok(Some(&maker.token), withdraw, input.clone()).await;
        assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL", "{d}");
        ids.push(d["withdraw"]["request"]["id"].as_str().unwrap().to_string());
    }
    let approve = "mutation($r:ID!){ approveRequest(requestId:$r){ status } }";
    assert_eq!(
        app.ok(Some(&approver.token), approve, json!({"r": ids[1]})).await["approveRequest"]["status"],
        "APPROVED"
    );
    let execute = "mutation($r:ID!){ execute(requestId:$r){ status } }";
    assert_eq!(app.ok(Some(&signer.token), execute, json!({"r": ids[1]})).await["execute"]["status"], "COMPLETED");
    let reject = "mutation($r:ID!){ rejectRequest(requestId:$r,reason:\"no\"){ status } }";
    assert_eq!(
        app.ok(Some(&approver.token), reject, json!({"r": ids[2]})).await["rejectRequest"]["status"],
        "REJECTED"
    );
    app.run_minutely_jobs().await;

    let mut who = vec![
        Who::Member {
            name: "the Owner",
            session: owner.clone(),
            views: &["INITIATE_WITHDRAWAL", "MANAGE_ACCESS", "MANAGE_POLICIES", "MANAGE_ADDRESSES"],
        },
        Who::Member { name: "a SIGNER", session: signer.clone(), views: &["INITIATE_WITHDRAWAL"] },
        Who::Member { name: "a MAKER", session: maker.clone(), views: &["INITIATE_WITHDRAWAL", "MANAGE_ADDRESSES"] },
    ];
    for scope in SCOPES {
        who.push(Who::Key { scope, key: key(&app, &owner, &org, &format!("bot {scope}"), scope).await });
    }
    let mallory = app.user("mallory@example.com").await;
    let other = app.create_org(&mallory, "Other").await;
    let outside_key = key(&app, &mallory, &other, "theirs", "QUERY_FUNDS").await;
    who.push(Who::Outsider(mallory));
    who.push(Who::OutsideKey(outside_key));

    let schema = app.ok(None, INTROSPECT, json!({})).await;
    let types = object_types(&schema);
    let mut paths = Vec::new();
    for root in ["Organization", "Request"] {
        let mut found = Vec::new();
        walk(&types, root, &mut Vec::new(), &mut vec![root.to_string()], &mut found);
        paths.extend(found.into_iter().map(|p| (root, p)));
    }
    // Every classified field is in the schema and walked (a stale entry fails too).
    let walked: BTreeSet<String> =
        paths.iter().flat_map(|(_, p)| p.iter().map(|(t, f)| format!("{t}.{}", f.name))).collect();
    for (k, _) in RULES {
        assert!(walked.contains(*k), "{k} is classified but not reachable: remove it from RULES");
    }

    let mut nonce = 0u64;
    let (mut asserted, mut answered, mut refused, mut vacuous) = (0usize, 0usize, 0usize, 0usize);
    let mut owner_reached = 0usize;
    for (root, path) in &paths {
        let (root_field, id) = match *root {
            "Organization" => ("organization", org.clone()),
            _ => ("request", ids[1].clone()),
        };
        let q = query(root_field, path);
        let vars = json!({"id": id});
        let names: Vec<String> =
            std::iter::once(root_field.to_string()).chain(path.iter().map(|(_, f)| f.name.clone())).collect();
        for w in &who {
            let outsider = matches!(w, Who::Outsider(_) | Who::OutsideKey(_));
            // The first step that refuses decides (its index in `names`); the root first.
            // Another organisation's caller, and a request the caller may not see: NOT_FOUND.
            let hidden = outsider || (*root == "Request" && !w.views("INITIATE_WITHDRAWAL"));
            let mut expected: Result<(), (usize, &str)> = if hidden { Err((0, "NOT_FOUND")) } else { Ok(()) };
            for (i, (t, f)) in path.iter().enumerate() {
                if expected.is_err() {
                    break;
                }
                expected = w.allowed(rule_of(t, &f.name), &names[..i + 2]).map_err(|code| (i + 1, code));
            }
            let body = run(&app, w, &mut nonce, &q, &vars).await;
            let codes = error_codes(&body);
            let at = format!("{} as {}: {q}\n{body}", names.join("."), w.label());
            match expected {
                Ok(()) => {
                    assert!(codes.is_empty(), "expected an answer: {at}");
                    answered += 1;
                    if reached(&body["data"], &names) && matches!(w, Who::Member { name: "the Owner", .. }) {
                        owner_reached += 1;
                    }
                }
                // Nothing above the refusing field to read it on (an empty
                // list, a null object): nothing to refuse either.
                Err((at_step, _)) if codes.is_empty() && at_step > 0 && !reached(&body["data"], &names[..at_step]) => {
                    vacuous += 1;
                }
                Err((_, code)) => {
                    assert!(codes.contains(code), "expected {code}: {at}");
                    assert!(codes.iter().all(|c| c == code), "expected only {code}: {at}");
                    refused += 1;
                }
            }
            asserted += 1;
        }
    }
    let fields: BTreeSet<&str> = paths.iter().map(|(_, p)| p.last().unwrap().1.name.as_str()).collect();
    eprintln!(
        "reach: {} paths ({} distinct field names) x {} callers = {asserted} queries: {answered} answered, {refused} refused, {vacuous} with nothing to refuse; the Owner reached data on {owner_reached} paths",
        paths.len(),
        fields.len(),
        who.len()
    );
    assert!(paths.len() >= 150, "walked only {} paths", paths.len());
    assert!(asserted >= 150 * who.len(), "asserted only {asserted}");
    assert!(
        owner_reached * 10 >= paths.len() * 8,
        "the Owner reached data on only {owner_reached} of {} paths",
        paths.len()
    );
    assert!(refused >= 500 && answered >= 500, "{answered} answered, {refused} refused");
}

both_backends!(every_reachable_field_answers_by_its_rule);

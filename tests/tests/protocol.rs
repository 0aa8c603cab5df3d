//! The HTTP surface: health, error codes for malformed input, limits, schema sync.

use serde_json::json;
use tests::{Backend, both_backends, spawn};

async fn health_and_malformed_requests(backend: Backend) {
    let app = spawn(backend).await;
    let r = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Syntax errors, unknown fields, unknown enum values and bad variables are BAD_INPUT.
    assert_eq!(app.err(None, "{ viewer { ", json!({})).await, "BAD_INPUT");
    assert_eq!(app.err(None, "{ viewer { nope } }", json!({})).await, "BAD_INPUT");
    let owner = app.user("o@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let q = "mutation($o:ID!){ setMemberRoles(orgId:$o,memberId:\"x\",roles:[OWNER]){ request{ id } } }";
    assert_eq!(app.err(Some(&owner.token), q, json!({"o": org})).await, "BAD_INPUT");
    let q = "mutation($o:ID!,$r:[Role!]!){ setMemberRoles(orgId:$o,memberId:\"x\",roles:$r){ request{ id } } }";
    assert_eq!(app.err(Some(&owner.token), q, json!({"o": org, "r": ["GOD"]})).await, "BAD_INPUT");

    // Too deep.
    let deep = format!("{{ viewer {{ memberships {{ user {{ id }} {} }} }} }}", "");
    app.ok(Some(&owner.token), &deep, json!({})).await;
    let mut nested = String::from("__typename");
    for _ in 0..20 {
        nested = format!("__schema {{ types {{ fields {{ type {{ ofType {{ {nested} }} }} }} }} }}");
    }
    let q = format!("{{ {nested} }}");
    assert_eq!(app.err(None, &q, json!({})).await, "BAD_INPUT");

    // Not JSON at all.
    let r = app
        .client
        .post(format!("{}/graphql", app.base))
        .body("nonsense")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT");

    // Bodies over 1 MiB are refused before parsing.
    let huge = format!("{{\"query\":\"{{ viewer {{ __typename }} }}\",\"x\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let r = app
        .client
        .post(format!("{}/graphql", app.base))
        .body(huge)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

both_backends!(health_and_malformed_requests);

/// `schema.graphql` at the repository root is the SDL the code exports.
/// Run with `UPDATE_SCHEMA=1` to rewrite it after changing the schema.
#[test]
fn schema_file_is_in_sync() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let sdl = api::graphql::sdl();
    if std::env::var("UPDATE_SCHEMA").is_ok() {
        std::fs::write(&path, &sdl).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == sdl,
        "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test -p tests --test protocol schema_file_is_in_sync`"
    );
}

/// SPEC §10 ("Errors", `../shared/SPEC.md`), copied as the spec words it:
/// "GraphQL errors carry `extensions.code`, one of: …". Keep this a copy of
/// the spec, never of `api::graphql::error::CODES`.
const SPEC_10_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_INPUT",
    "CONFLICT",
    "LIMIT_EXCEEDED",
    "INSUFFICIENT_FUNDS",
    "TREASURY_NOT_READY",
    "SELF_APPROVAL",
    "POLICY_LOCKED",
    "COVERAGE",
    "TWO_FACTOR_REQUIRED",
    "RATE_LIMITED",
    "OUTSIDE_WINDOW",
    "PAUSED_LOW_BALANCE",
    "INTERNAL",
];

/// Codes the service returns beyond SPEC §10's list, each documented in the
/// README's Errors table: the address cooling-off period (README, "Address
/// cooling-off", under "Balances, withdrawals and risk limits") is not in
/// the spec, so its code is not either.
const BEYOND_SPEC_10: &[&str] = &["ADDRESS_COOLING_OFF"];

/// One error of each kind the services raise. The `match` names every
/// variant, so a new one does not compile until it is added here too.
fn one_of_each() -> Vec<api::service::ServiceError> {
    use api::service::ServiceError::*;
    let all = vec![
        Unauthenticated("who".into()),
        Forbidden("no".into()),
        NotFound("thing"),
        BadInput("bad".into()),
        Conflict("state".into()),
        TwoFactorRequired("totp".into()),
        RateLimited { retry_after_secs: 3 },
        SelfApproval("own".into()),
        PolicyLocked("locked".into()),
        Coverage("approvers".into()),
        TreasuryNotReady("roles".into()),
        LimitExceeded(Box::new(api::service::LimitBreach {
            layer: api::domain::LimitLayer::Organization,
            kind: api::domain::LimitKind::DailyCap,
            cap: 100.into(),
            used: 60.into(),
            held: 30.into(),
            amount: 20.into(),
            overshoot: 10.into(),
        })),
        InsufficientFunds("funds".into()),
        PausedLowBalance("paused".into()),
        OutsideWindow("window".into()),
        AddressCoolingOff { usable_from: chrono::Utc::now(), message: "cooling".into() },
        Internal("detail".into()),
    ];
    for e in &all {
        match e {
            Unauthenticated(_)
            | Forbidden(_)
            | NotFound(_)
            | BadInput(_)
            | Conflict(_)
            | TwoFactorRequired(_)
            | RateLimited { .. }
            | SelfApproval(_)
            | PolicyLocked(_)
            | Coverage(_)
            | TreasuryNotReady(_)
            | LimitExceeded(_)
            | InsufficientFunds(_)
            | PausedLowBalance(_)
            | OutsideWindow(_)
            | AddressCoolingOff { .. }
            | Internal(_) => {}
        }
    }
    all
}

/// Every service error's `code()` is one of SPEC §10's codes (or a
/// documented addition), the GraphQL error a client sees carries that same
/// code, every code in the spec is one some error has, and the list the
/// server exports (`CODES`) says the same.
#[test]
fn error_codes_are_spec_10s() {
    use api::graphql::error::{ApiError, CODES, code};
    use std::collections::BTreeSet;
    let allowed: BTreeSet<&str> = SPEC_10_CODES.iter().chain(BEYOND_SPEC_10).copied().collect();
    let mut seen = BTreeSet::new();
    for e in one_of_each() {
        let c = code(&e);
        assert!(allowed.contains(c), "{e:?} has the code {c}, which SPEC §10 does not list");
        let client: async_graphql::Error = ApiError(e.clone()).into();
        let ext = client.extensions.expect("extensions");
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from(c)), "{e:?} reaches the client as {c}");
        seen.insert(c);
    }
    // BAD_INPUT is also what errors that never reach a resolver get (ensure_codes).
    assert_eq!(seen, allowed, "every code the spec lists is one some error returns");
    assert_eq!(CODES.iter().copied().collect::<BTreeSet<_>>(), allowed, "the exported list");
    assert_eq!(CODES.len(), allowed.len(), "without duplicates");
}

/// GraphiQL's own introspection query nests type references 13 levels deep:
/// a document of nothing but introspection may go that deep (the explorer
/// loads its schema), while data queries, and documents that mix data into
/// introspection, keep the ordinary depth limit.
#[tokio::test]
async fn graphiql_introspection_passes_the_depth_limit_and_data_does_not() {
    let app = spawn(Backend::Sqlite).await;
    let introspection = include_str!("../fixtures/graphiql-introspection.graphql");
    let d = app.ok(None, introspection, json!({})).await;
    assert!(d["__schema"]["types"].as_array().map_or(0, |t| t.len()) > 50, "the schema's types");
    assert_eq!(d["__schema"]["queryType"]["name"], "QueryRoot");

    let deep_types = "__schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
    app.ok(None, &format!("{{ {deep_types} }}"), json!({})).await;
    let mixed = format!("{{ viewer {{ user {{ id }} }} {deep_types} }}");
    assert_eq!(app.err(None, &mixed, json!({})).await, "BAD_INPUT", "data beside deep introspection keeps the limit");
    let fragment = format!("query {{ ...F }} fragment F on QueryRoot {{ assets {{ symbol }} {deep_types} }}");
    assert_eq!(app.err(None, &fragment, json!({})).await, "BAD_INPUT", "also through a fragment");
}

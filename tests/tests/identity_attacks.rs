//! Attacks on sign-in and two-factor authentication, made through the public
//! API as an attacker would (issue 16): throttles raced with batches and
//! parallel requests, TOTP guessing through `signIn` and `confirmTotp`,
//! confirmation from a session that did not enrol, TOTP secrets at rest, and
//! stale or malformed bearer tokens.

use chrono::Duration;
use futures_util::future::join_all;
use serde_json::{Value, json};
use tests::{Backend, PASSWORD, TestApp, both_backends, spawn, spawn_sharing, spawn_with, totp_code};

const SIGN_IN: &str =
    "mutation($e:String!,$p:String!,$t:String){ signIn(email:$e,password:$p,totp:$t){ token user{ id } } }";
const CONFIRM: &str = "mutation($c:String!){ confirmTotp(code:$c) }";
const VIEWER: &str = "{ viewer { user { id } twoFactorVerified } }";

/// The error code of each response of a batch (`"OK"` for a response without errors).
fn codes(batch: &Value) -> Vec<String> {
    let items = batch.as_array().unwrap_or_else(|| panic!("expected a batch response, got {batch:#}"));
    items.iter().map(code_of).collect()
}

fn code_of(body: &Value) -> String {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => code.to_string(),
        None if body.get("errors").is_none() => "OK".to_string(),
        None => panic!("an error without a code: {body:#}"),
    }
}

fn count(codes: &[String], code: &str) -> usize {
    codes.iter().filter(|c| *c == code).count()
}

/// `n` six-digit codes none of which is valid for `secret` at `now` (±1 step).
fn wrong_codes(secret: &str, now: chrono::DateTime<chrono::Utc>, n: usize) -> Vec<String> {
    let valid: Vec<String> = [-30, 0, 30].iter().map(|s| totp_code(secret, now + Duration::seconds(*s))).collect();
    (0..).map(|i: u32| format!("{:06}", (i * 7919) % 1_000_000)).filter(|c| !valid.contains(c)).take(n).collect()
}

/// Sends `ops` as `parallel` concurrent batch requests of `ops.len() / parallel`
/// operations each (within the server's batch cap), returning every code.
async fn batches_in_parallel(
    app: &TestApp,
    token: Option<&str>,
    ops: Vec<(&str, Value)>,
    parallel: usize,
) -> Vec<String> {
    let per = ops.len().div_ceil(parallel);
    let answers = join_all(ops.chunks(per).map(|chunk| app.gql_batch(token, chunk))).await;
    answers
        .into_iter()
        .flat_map(|(status, body)| {
            assert!(status == 200 || status == 429, "batch answered {status}: {body:#}");
            codes(&body)
        })
        .collect()
}

/// Thirty wrong passwords for one e-mail, in batches sent at once: five are
/// checked, the rest are refused before any check; then even the right
/// password is refused until the window passes.
async fn batched_wrong_passwords_are_throttled(backend: Backend) {
    let app = spawn(backend).await;
    app.sign_up("victim@example.com").await;
    let ops: Vec<(&str, Value)> =
        (0..30).map(|i| (SIGN_IN, json!({"e": "victim@example.com", "p": format!("guess number {i}")}))).collect();
    let got = batches_in_parallel(&app, None, ops, 3).await;
    assert_eq!(got.len(), 30);
    assert_eq!(count(&got, "UNAUTHENTICATED"), 5, "exactly the limit is checked: {got:?}");
    assert_eq!(count(&got, "RATE_LIMITED"), 25, "{got:?}");

    let body = app.gql(None, SIGN_IN, json!({"e": "victim@example.com", "p": PASSWORD})).await;
    assert_eq!(code_of(&body), "RATE_LIMITED", "{body:#}");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_i64().unwrap_or(0) > 0);
    app.clock.advance(Duration::minutes(16));
    app.ok(None, SIGN_IN, json!({"e": "victim@example.com", "p": PASSWORD})).await;
}

/// The same with thirty single requests in parallel.
async fn parallel_wrong_passwords_are_throttled(backend: Backend) {
    let app = spawn(backend).await;
    app.sign_up("victim@example.com").await;
    let guesses: Vec<String> = (0..30).map(|i| format!("guess number {i}")).collect();
    let answers =
        join_all(guesses.iter().map(|p| app.gql(None, SIGN_IN, json!({"e": "victim@example.com", "p": p})))).await;
    let got: Vec<String> = answers.iter().map(code_of).collect();
    assert_eq!(count(&got, "UNAUTHENTICATED"), 5, "exactly the limit is checked: {got:?}");
    assert_eq!(count(&got, "RATE_LIMITED"), 25, "{got:?}");
    assert_eq!(app.err(None, SIGN_IN, json!({"e": "victim@example.com", "p": PASSWORD})).await, "RATE_LIMITED");
}

/// Parallel guesses split over two servers on one database (two `serve`
/// processes of a deployment): the throttle holds across them.
async fn two_servers_share_the_throttle(backend: Backend) {
    let a = spawn(backend).await;
    let b = spawn_sharing(&a).await;
    a.sign_up("victim@example.com").await;
    let guesses: Vec<String> = (0..30).map(|i| format!("guess number {i}")).collect();
    let answers = join_all(guesses.iter().enumerate().map(|(i, p)| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.gql(None, SIGN_IN, json!({"e": "victim@example.com", "p": p}))
    }))
    .await;
    let got: Vec<String> = answers.iter().map(code_of).collect();
    assert_eq!(count(&got, "UNAUTHENTICATED"), 5, "exactly the limit is checked: {got:?}");
    assert_eq!(count(&got, "RATE_LIMITED"), 25, "{got:?}");
}

/// Sixty different e-mails from one address, in batches sent at once: the
/// per-IP limit (20) holds, and then the address cannot sign in at all.
async fn many_emails_hit_the_per_ip_limit(backend: Backend) {
    let app = spawn(backend).await;
    app.sign_up("someone@example.com").await;
    let emails: Vec<String> = (0..60).map(|i| format!("spray{i}@example.com")).collect();
    let ops: Vec<(&str, Value)> = emails.iter().map(|e| (SIGN_IN, json!({"e": e, "p": "Winter2026!!"}))).collect();
    let got = batches_in_parallel(&app, None, ops, 6).await;
    assert_eq!(count(&got, "UNAUTHENTICATED"), 20, "exactly the per-IP limit is checked: {got:?}");
    assert_eq!(count(&got, "RATE_LIMITED"), 40, "{got:?}");
    assert_eq!(app.err(None, SIGN_IN, json!({"e": "someone@example.com", "p": PASSWORD})).await, "RATE_LIMITED");
}

/// Someone who knows the password guesses TOTP codes through `signIn`: five
/// guesses are checked, then the user's codes are throttled and even the
/// right code is refused until the window passes.
async fn totp_guessing_through_sign_in_is_throttled(backend: Backend) {
    let app = spawn_with(backend, |c| {
        // Only the TOTP throttle is under test here.
        c.throttle_per_email = 1000;
        c.throttle_per_ip = 1000;
    })
    .await;
    let owner = app.user("owner@example.com").await;
    let secret = owner.totp_secret.clone().expect("enrolled");
    let guesses = wrong_codes(&secret, app.now(), 30);
    let ops: Vec<(&str, Value)> =
        guesses.iter().map(|c| (SIGN_IN, json!({"e": owner.email, "p": PASSWORD, "t": c}))).collect();
    let got = batches_in_parallel(&app, None, ops, 3).await;
    assert_eq!(count(&got, "UNAUTHENTICATED"), 5, "exactly five codes are checked: {got:?}");
    assert_eq!(count(&got, "RATE_LIMITED"), 25, "{got:?}");

    let body = app.gql(None, SIGN_IN, json!({"e": owner.email, "p": PASSWORD, "t": app.totp(&secret)})).await;
    assert_eq!(code_of(&body), "RATE_LIMITED", "the right code is refused while throttled: {body:#}");
    let wait = body["errors"][0]["extensions"]["retryAfterSeconds"].as_i64().unwrap_or(0);
    assert!(wait > 0 && wait <= 15 * 60, "{wait}");

    app.clock.advance(Duration::minutes(16));
    let d = app.ok(None, SIGN_IN, json!({"e": owner.email, "p": PASSWORD, "t": app.totp(&secret)})).await;
    let token = d["signIn"]["token"].as_str().expect("token");
    assert_eq!(app.ok(Some(token), VIEWER, json!({})).await["viewer"]["twoFactorVerified"], true);
}

/// The attack of issue 16: a session opened with the password before the
/// owner enrolled guesses `confirmTotp` codes while the owner enrols on
/// another session. Its guesses are refused outright; the owner's own wrong
/// codes are throttled; and confirming signs the attacker's session out.
async fn confirm_totp_is_bound_to_the_enrolling_session(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.sign_up("owner@example.com").await;
    // The attacker has the password and a session from before enrolment.
    let attacker = app.sign_in(&owner).await;
    let d = app.ok(Some(&owner.token), "mutation{ enrollTotp{ secret } }", json!({})).await;
    let secret = d["enrollTotp"]["secret"].as_str().expect("secret").to_string();

    let mut guesses = wrong_codes(&secret, app.now(), 9);
    guesses.push(app.totp(&secret)); // even the right code
    let ops: Vec<(&str, Value)> = guesses.iter().map(|c| (CONFIRM, json!({"c": c}))).collect();
    let (status, body) = app.gql_batch(Some(&attacker), &ops).await;
    assert_eq!(status, 200);
    let got = codes(&body);
    assert_eq!(count(&got, "FORBIDDEN"), 10, "only the enrolling session may confirm: {got:?}");
    assert_eq!(app.ok(Some(&attacker), VIEWER, json!({})).await["viewer"]["twoFactorVerified"], false);

    // The owner's own wrong codes are throttled like any other: five checked.
    let ops: Vec<(&str, Value)> =
        wrong_codes(&secret, app.now(), 10).into_iter().map(|c| (CONFIRM, json!({"c": c}))).collect();
    let (_, body) = app.gql_batch(Some(&owner.token), &ops).await;
    let got = codes(&body);
    assert_eq!(count(&got, "BAD_INPUT"), 5, "{got:?}");
    assert_eq!(count(&got, "RATE_LIMITED"), 5, "{got:?}");
    let body = app.gql(Some(&owner.token), CONFIRM, json!({"c": app.totp(&secret)})).await;
    assert_eq!(code_of(&body), "RATE_LIMITED", "the right code is refused while throttled: {body:#}");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_i64().unwrap_or(0) > 0);

    // Another password session opened meanwhile (not two-factor verified).
    let other = app.sign_in(&owner).await;
    app.clock.advance(Duration::minutes(16));
    app.ok(Some(&owner.token), CONFIRM, json!({"c": app.totp(&secret)})).await;
    assert_eq!(app.ok(Some(&owner.token), VIEWER, json!({})).await["viewer"]["twoFactorVerified"], true);
    // Every other session that was not two-factor verified is signed out.
    for token in [&attacker, &other] {
        let resp = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(token)
            .json(&json!({"query": VIEWER}))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 401);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(code_of(&body), "UNAUTHENTICATED", "{body:#}");
    }
    // A confirmed enrolment cannot be confirmed again (from anywhere).
    app.clock.advance(Duration::seconds(30));
    assert_eq!(app.err(Some(&owner.token), CONFIRM, json!({"c": app.totp(&secret)})).await, "CONFLICT");
}

/// The users row as stored: (plain column, sealed column).
async fn stored_secret(app: &TestApp, user_id: &str) -> (Option<String>, Option<String>) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.db().await;
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT totp_secret, totp_secret_sealed FROM users WHERE id = $1",
        _ => "SELECT totp_secret, totp_secret_sealed FROM users WHERE id = ?",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [user_id.into()]))
        .await
        .expect("select")
        .expect("the user's row");
    let out = (row.try_get("", "totp_secret").expect("plain"), row.try_get("", "totp_secret_sealed").expect("sealed"));
    db.close().await.ok();
    out
}

/// After enrolment the database holds no TOTP secret in plain text; a row
/// from before sealing existed is sealed when the server starts, and its
/// secret keeps working.
async fn totp_secrets_are_sealed_at_rest(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let secret = owner.totp_secret.clone().expect("enrolled");
    let (plain, sealed) = stored_secret(&app, &owner.user_id).await;
    assert_eq!(plain, None, "no plain secret in the row");
    let sealed = sealed.expect("a sealed secret");
    assert!(!sealed.contains(&secret) && !sealed.to_lowercase().contains(&secret.to_lowercase()));

    // A row as an older version stored it: the secret in plain text.
    {
        use sea_orm::{ConnectionTrait, Statement};
        let db = app.db().await;
        let backend = db.get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => {
                "UPDATE users SET totp_secret = $1, totp_secret_sealed = NULL WHERE id = $2"
            }
            _ => "UPDATE users SET totp_secret = ?, totp_secret_sealed = NULL WHERE id = ?",
        };
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [secret.clone().into(), owner.user_id.clone().into()],
        ))
        .await
        .expect("update");
        db.close().await.ok();
    }
    // Starting a server (as after an upgrade) seals it.
    let next = spawn_sharing(&app).await;
    let (plain, sealed) = stored_secret(&next, &owner.user_id).await;
    assert_eq!(plain, None, "sealed at start-up");
    assert!(sealed.is_some_and(|s| !s.contains(&secret)));
    next.clock.advance(Duration::seconds(61));
    let d = next.ok(None, SIGN_IN, json!({"e": owner.email, "p": PASSWORD, "t": next.totp(&secret)})).await;
    assert_eq!(d["signIn"]["user"]["id"], owner.user_id.as_str());
}

/// A bearer token that names no live session is `UNAUTHENTICATED` with HTTP
/// 401 — malformed, unknown, signed out or idle — never an anonymous caller;
/// without a token the caller is anonymous as before. The WebSocket refuses
/// such a token in `connection_init` the same way.
async fn bad_bearer_tokens_are_unauthenticated(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let signed_out = app.sign_in(&owner).await;
    app.ok(Some(&signed_out), "mutation{ signOut }", json!({})).await;
    let idle = app.sign_in(&owner).await;
    app.ok(Some(&owner.token), VIEWER, json!({})).await;

    let post = |authorization: Option<String>| {
        let mut req = app.client.post(format!("{}/graphql", app.base)).json(&json!({"query": VIEWER}));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("json"))
        }
    };
    for (what, header) in [
        ("unknown", "Bearer not-a-session-token".to_string()),
        ("empty", "Bearer ".to_string()),
        ("not bearer", "Basic b3duZXI6cGFzc3dvcmQ=".to_string()),
        ("no scheme", owner.token.clone()),
        ("signed out", format!("Bearer {signed_out}")),
    ] {
        let (status, body) = post(Some(header)).await;
        assert_eq!(status, 401, "{what}: {body:#}");
        assert_eq!(code_of(&body), "UNAUTHENTICATED", "{what}: {body:#}");
        assert!(body.get("data").is_none() || body["data"].is_null(), "{what}: nothing answered: {body:#}");
    }
    // Idle past the timeout (the owner's own session is kept alive meanwhile).
    for _ in 0..2 {
        app.clock.advance(Duration::minutes(20));
        app.ok(Some(&owner.token), VIEWER, json!({})).await;
    }
    let (status, body) = post(Some(format!("Bearer {idle}"))).await;
    assert_eq!((status, code_of(&body)), (401, "UNAUTHENTICATED".to_string()), "idle: {body:#}");
    // Mutations are refused the same way: no anonymous sign-in under a stale token.
    let (status, body) =
        app.gql_batch(Some("not-a-session-token"), &[(SIGN_IN, json!({"e": owner.email, "p": PASSWORD}))]).await;
    assert_eq!(status, 401, "{body:#}");
    assert_eq!(code_of(&body), "UNAUTHENTICATED");

    // No credential at all is still an anonymous caller.
    let (status, body) = post(None).await;
    assert_eq!(status, 200);
    assert!(body["data"]["viewer"]["user"].is_null(), "{body:#}");
    // A live session still works.
    let (status, body) = post(Some(format!("Bearer {}", owner.token))).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["viewer"]["user"]["id"], owner.user_id.as_str());

    // The WebSocket: a stale token is refused in connection_init.
    for token in ["not-a-session-token", signed_out.as_str()] {
        match tests::ws::WsClient::try_connect(&app.base, json!({"token": token})).await {
            tests::ws::Handshake::Refused(_, reason) => assert!(reason.contains("UNAUTHENTICATED"), "{reason}"),
            tests::ws::Handshake::Acked(_) => panic!("a stale token opened a WebSocket"),
        }
    }
}

/// Bad tokens cost the client's address its allowance like anonymous calls:
/// refusing them is no way around the rate limit.
async fn bad_bearer_tokens_are_rate_limited(backend: Backend) {
    let app = spawn_with(backend, |c| {
        c.rate_limit_per_minute = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (status, _) = app.gql_batch(Some(&format!("stale-token-{i}")), &[(VIEWER, json!({}))]).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
}

both_backends!(
    batched_wrong_passwords_are_throttled,
    parallel_wrong_passwords_are_throttled,
    two_servers_share_the_throttle,
    many_emails_hit_the_per_ip_limit,
    totp_guessing_through_sign_in_is_throttled,
    confirm_totp_is_bound_to_the_enrolling_session,
    totp_secrets_are_sealed_at_rest,
    bad_bearer_tokens_are_unauthenticated,
    bad_bearer_tokens_are_rate_limited,
);

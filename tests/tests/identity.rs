//! Sign-up, sign-in, sign-out, throttling, TOTP and session expiry, end to end.

use chrono::Duration;
use serde_json::json;
use tests::{Backend, PASSWORD, both_backends, spawn, spawn_with};

const VIEWER: &str = "{ viewer { user { id email name twoFactorEnabled } twoFactorVerified } }";
const SIGN_IN: &str =
    "mutation($e:String!,$p:String!,$t:String){ signIn(email:$e,password:$p,totp:$t){ token user{ id } } }";

async fn sign_up_in_out(backend: Backend) {
    let app = spawn(backend).await;
    let alice = app.sign_up("Alice@Example.com").await;
    let d = app.ok(Some(&alice.token), VIEWER, json!({})).await;
    assert_eq!(d["viewer"]["user"]["email"], "alice@example.com");
    assert_eq!(d["viewer"]["user"]["twoFactorEnabled"], false);

    // Same e-mail in another case is the same account.
    let code = app
        .err(
            None,
            "mutation{ signUp(email:\"ALICE@example.com\", password:\"another long password\", name:\"A\"){ token } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    for (email, password, name) in
        [("not-an-email", PASSWORD, "x"), ("b@example.com", "short", "x"), ("b@example.com", PASSWORD, "  ")]
    {
        let code = app
            .err(
                None,
                "mutation($e:String!,$p:String!,$n:String!){ signUp(email:$e,password:$p,name:$n){ token } }",
                json!({"e": email, "p": password, "n": name}),
            )
            .await;
        assert_eq!(code, "BAD_INPUT", "{email} / {password} / {name:?}");
    }

    let code = app.err(None, SIGN_IN, json!({"e": "alice@example.com", "p": "wrong password!!"})).await;
    assert_eq!(code, "UNAUTHENTICATED");
    let d = app.ok(None, SIGN_IN, json!({"e": "alice@example.com", "p": PASSWORD})).await;
    let token2 = d["signIn"]["token"].as_str().unwrap().to_string();
    assert_eq!(d["signIn"]["user"]["id"], alice.user_id.as_str());

    app.ok(Some(&token2), "mutation{ signOut }", json!({})).await;
    // A signed-out token identifies no one, and is not an anonymous caller either.
    assert_eq!(app.err(Some(&token2), VIEWER, json!({})).await, "UNAUTHENTICATED");
    assert_eq!(app.err(Some(&token2), "mutation{ signOut }", json!({})).await, "UNAUTHENTICATED");
    // The first session is unaffected.
    let d = app.ok(Some(&alice.token), VIEWER, json!({})).await;
    assert_eq!(d["viewer"]["user"]["id"], alice.user_id.as_str());
}

async fn wrong_passwords_are_throttled(backend: Backend) {
    let app = spawn_with(backend, |c| {
        c.throttle_per_email = 3;
        c.throttle_per_ip = 1000;
    })
    .await;
    app.sign_up("bob@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.err(None, SIGN_IN, json!({"e": "bob@example.com", "p": "not the password"})).await,
            "UNAUTHENTICATED"
        );
    }
    // Throttled now, even with the right password.
    let body = app.gql(None, SIGN_IN, json!({"e": "bob@example.com", "p": PASSWORD})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_i64().unwrap() > 0);
    // Another e-mail from the same address is not affected.
    app.sign_up("carol@example.com").await;
    app.ok(None, SIGN_IN, json!({"e": "carol@example.com", "p": PASSWORD})).await;
    // After the window the right password works again.
    app.clock.advance(Duration::minutes(16));
    app.ok(None, SIGN_IN, json!({"e": "bob@example.com", "p": PASSWORD})).await;
}

async fn per_ip_throttle(backend: Backend) {
    let app = spawn_with(backend, |c| {
        c.throttle_per_email = 100;
        c.throttle_per_ip = 4;
    })
    .await;
    app.sign_up("dave@example.com").await;
    for i in 0..4 {
        let e = format!("nobody{i}@example.com");
        assert_eq!(app.err(None, SIGN_IN, json!({"e": e, "p": "not the password"})).await, "UNAUTHENTICATED");
    }
    assert_eq!(app.err(None, SIGN_IN, json!({"e": "dave@example.com", "p": PASSWORD})).await, "RATE_LIMITED");
}

async fn totp_enrolment_and_sign_in(backend: Backend) {
    let app = spawn(backend).await;
    let mut erin = app.sign_up("erin@example.com").await;
    assert_eq!(app.err(Some(&erin.token), "mutation{ confirmTotp(code:\"123456\") }", json!({})).await, "CONFLICT");
    let d = app.ok(Some(&erin.token), "mutation{ enrollTotp{ secret otpauthUrl } }", json!({})).await;
    let secret = d["enrollTotp"]["secret"].as_str().unwrap().to_string();
    assert!(d["enrollTotp"]["otpauthUrl"].as_str().unwrap().starts_with("otpauth://totp/"));
    // A wrong code is refused and enrolment stays open.
    let wrong = if app.totp(&secret) == "000000" { "111111" } else { "000000" };
    assert_eq!(
        app.err(Some(&erin.token), "mutation($c:String!){ confirmTotp(code:$c) }", json!({"c": wrong})).await,
        "BAD_INPUT"
    );
    let code = app.totp(&secret);
    app.ok(Some(&erin.token), "mutation($c:String!){ confirmTotp(code:$c) }", json!({"c": code})).await;
    let d = app.ok(Some(&erin.token), VIEWER, json!({})).await;
    assert_eq!(d["viewer"]["twoFactorVerified"], true);
    assert_eq!(d["viewer"]["user"]["twoFactorEnabled"], true);
    erin.totp_secret = Some(secret.clone());

    // Once enrolled, a password alone no longer signs in.
    assert_eq!(app.err(None, SIGN_IN, json!({"e": "erin@example.com", "p": PASSWORD})).await, "TWO_FACTOR_REQUIRED");
    // The code used to confirm cannot be replayed within its step.
    assert_eq!(
        app.err(None, SIGN_IN, json!({"e": "erin@example.com", "p": PASSWORD, "t": code})).await,
        "UNAUTHENTICATED"
    );
    app.clock.advance(Duration::seconds(30));
    let fresh = app.totp(&secret);
    let d = app.ok(None, SIGN_IN, json!({"e": "erin@example.com", "p": PASSWORD, "t": fresh})).await;
    let token = d["signIn"]["token"].as_str().unwrap();
    let d = app.ok(Some(token), VIEWER, json!({})).await;
    assert_eq!(d["viewer"]["twoFactorVerified"], true);
    // Replay of the code just used.
    assert_eq!(
        app.err(None, SIGN_IN, json!({"e": "erin@example.com", "p": PASSWORD, "t": fresh})).await,
        "UNAUTHENTICATED"
    );
    // Enrolling again once enabled is refused.
    assert_eq!(app.err(Some(token), "mutation{ enrollTotp{ secret } }", json!({})).await, "CONFLICT");
}

async fn two_factor_required_in_organisations(backend: Backend) {
    let app = spawn(backend).await;
    let mut frank = app.sign_up("frank@example.com").await;
    // Bootstrapping is allowed without 2FA…
    let org = app.create_org(&frank, "Frank Treasury").await;
    // …acting in the organisation is not.
    let q = "query($o:ID!){ organization(id:$o){ name } }";
    assert_eq!(app.err(Some(&frank.token), q, json!({"o": org})).await, "TWO_FACTOR_REQUIRED");
    assert_eq!(
        app.err(Some(&frank.token), "query($o:ID!){ viewer{ permissions(orgId:$o){ workflow } } }", json!({"o": org}))
            .await,
        "TWO_FACTOR_REQUIRED"
    );
    app.enrol(&mut frank).await;
    let d = app.ok(Some(&frank.token), q, json!({"o": org})).await;
    assert_eq!(d["organization"]["name"], "Frank Treasury");
}

async fn sessions_expire_when_idle_and_when_old(backend: Backend) {
    let app = spawn(backend).await;
    let grace = app.user("gina@example.com").await;
    let org = app.create_org(&grace, "Gina Org").await;
    let q = "query($o:ID!){ organization(id:$o){ id } }";
    app.clock.advance(Duration::minutes(29));
    app.ok(Some(&grace.token), q, json!({"o": org})).await;
    app.clock.advance(Duration::minutes(31));
    assert_eq!(app.err(Some(&grace.token), q, json!({"o": org})).await, "UNAUTHENTICATED");
    assert_eq!(app.err(Some(&grace.token), VIEWER, json!({})).await, "UNAUTHENTICATED");

    // Used every 20 minutes, a session still ends 12 h after sign-in.
    let secret = grace.totp_secret.clone().unwrap();
    let code = app.totp(&secret);
    let d = app.ok(None, SIGN_IN, json!({"e": "gina@example.com", "p": PASSWORD, "t": code})).await;
    let token = d["signIn"]["token"].as_str().unwrap().to_string();
    for _ in 0..35 {
        app.clock.advance(Duration::minutes(20));
        app.ok(Some(&token), q, json!({"o": org})).await;
    }
    app.clock.advance(Duration::minutes(25));
    assert_eq!(app.err(Some(&token), q, json!({"o": org})).await, "UNAUTHENTICATED");
}

both_backends!(
    sign_up_in_out,
    wrong_passwords_are_throttled,
    per_ip_throttle,
    totp_enrolment_and_sign_in,
    two_factor_required_in_organisations,
    sessions_expire_when_idle_and_when_old,
);

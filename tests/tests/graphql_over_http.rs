//! GraphQL over HTTP to the letter, on both databases: the graphql-http
//! project's audit of the specification passes without a MUST or SHOULD
//! warning, and what the audit cannot see holds too — GET reads and never
//! writes (not even through a batch or a named operation), carries URL-encoded
//! variables, is never cached, and a service user signs its query string as a
//! POST signs its body, with replays refused the same way. Subscriptions
//! work with graphql-ws, the reference client of `graphql-transport-ws`.

use serde_json::{Value, json};
use tests::{Backend, TestApp, both_backends, sign, spawn, spawn_with};

/// The server without a rate limit the audit's 61 requests would meet.
async fn server(backend: Backend) -> TestApp {
    spawn_with(backend, |c| {
        c.rate_limit_per_minute = 100_000;
        c.rate_limit_burst = 10_000;
    })
    .await
}

async fn the_specifications_audit_passes(backend: Backend) {
    let app = server(backend).await;
    let dir = tests::browser::browser_dir().await;
    let out = tokio::process::Command::new("node")
        .args(["graphql-http-audit.mjs", &format!("{}/graphql", app.base)])
        .current_dir(&dir)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "a MUST or SHOULD audit is not ok:\n{stdout}\n{stderr}");
    let results: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(results.len() >= 50, "the audit ran: {stdout}");
    let required = |r: &&Value| r["name"].as_str().is_some_and(|n| n.starts_with("MUST") || n.starts_with("SHOULD"));
    assert!(results.iter().filter(required).count() >= 30, "{stdout}");
    assert!(results.iter().filter(required).all(|r| r["status"] == "ok"), "{stdout}");
}

/// A GET of `/graphql` with these URL parameters.
async fn get(app: &TestApp, token: Option<&str>, params: &[(&str, &str)]) -> reqwest::Response {
    let mut r = app.client.get(format!("{}/graphql", app.base)).query(params);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("GET answers")
}

async fn get_reads_and_never_writes(backend: Backend) {
    let app = server(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;

    // A query with URL-encoded variables; the answer is never cached.
    let q = "query($o:ID!){ organization(id:$o){ name } }";
    let vars = json!({"o": org}).to_string();
    let r = get(&app, Some(&owner.token), &[("query", q), ("variables", &vars)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["organization"]["name"], "Acme", "{body}");

    // A mutation by GET is refused before it runs: the session stays open.
    for (query, name) in
        [("mutation { signOut }", None), ("query A { viewer { user { email } } } mutation B { signOut }", Some("B"))]
    {
        let mut params = vec![("query", query)];
        params.extend(name.map(|n| ("operationName", n)));
        let r = get(&app, Some(&owner.token), &params).await;
        assert_eq!(r.status(), 405, "{query}");
        assert_eq!(r.headers()["allow"], "POST");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT");
    }
    let viewer = app.ok(Some(&owner.token), "{ viewer { user { email } } }", json!({})).await;
    assert_eq!(viewer["viewer"]["user"]["email"], "owner@example.com", "the GETs signed nobody out");

    // Malformed parameters: 400 BAD_INPUT, nothing run.
    let r = get(&app, Some(&owner.token), &[("query", q), ("variables", "{not json")]).await;
    assert_eq!(r.status(), 400);
    let r = get(&app, Some(&owner.token), &[]).await;
    assert_eq!(r.status(), 400);

    // A client that accepts application/graphql-response+json learns from
    // the status that its document did not validate, and gets no data entry;
    // a client asking for application/json gets 200 as before.
    let invalid = json!({"query": "{ viewer { noSuchField } }"});
    for (accept, status) in [("application/graphql-response+json", 400), ("application/json", 200)] {
        let r = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("accept", accept)
            .bearer_auth(&owner.token)
            .json(&invalid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{accept}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(accept));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT", "{body}");
        assert_eq!(body.get("data").is_none(), status == 400, "{body}");
    }
    // A field error is not a request error: 200, with data.
    let r = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "query($o:ID!){ organization(id:$o){ name } }", "variables": {"o": "nope"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("data").is_some(), "{body}");

    // A body that is not declared JSON, or names no query: refused.
    let r =
        app.client.post(format!("{}/graphql", app.base)).body("{\"query\":\"{ __typename }\"}").send().await.unwrap();
    assert_eq!(r.status(), 415);
    let r = app.client.post(format!("{}/graphql", app.base)).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

async fn a_service_user_signs_a_get_as_it_signs_a_post(backend: Backend) {
    let app = server(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"reader\",scopes:[QUERY_FUNDS]}){ apiKey{ keyId secret } } }",
            json!({"o": org}),
        )
        .await;
    let key_id = d["createServiceUser"]["apiKey"]["keyId"].as_str().unwrap().to_string();
    let secret = d["createServiceUser"]["apiKey"]["secret"].as_str().unwrap().to_string();
    let vars = json!({"o": org}).to_string();
    let query_string =
        serde_urlencoded::to_string([("query", "query($o:ID!){ organization(id:$o){ name } }"), ("variables", &vars)])
            .unwrap();
    let signed_get = |nonce: &str, signed: &str| {
        app.client
            .get(format!("{}/graphql?{query_string}", app.base))
            .header("X-Api-Key", &key_id)
            .header("X-Api-Nonce", nonce)
            .header("X-Api-Signature", sign(&secret, nonce, signed.as_bytes()))
            .send()
    };
    let r = signed_get("1", &query_string).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["organization"]["name"], "Acme", "{body}");
    // The same nonce again is a replay; a signature over other parameters is forged.
    let r = signed_get("1", &query_string).await.unwrap();
    assert_eq!(r.status(), 401, "a replayed GET");
    let r = signed_get("2", "query=%7B%20__typename%20%7D").await.unwrap();
    assert_eq!(r.status(), 401, "a signature over another query string");
    let r = signed_get("3", &query_string).await.unwrap();
    assert_eq!(r.status(), 200, "a fresh nonce over the query string is accepted");
}

/// graphql-ws, the protocol's reference client (Node), subscribes to
/// `requestEvents` as a member and as a signed key, and both hear of a
/// withdrawal made afterwards.
async fn the_reference_client_subscribes(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    // A key that withdraws needs someone to approve and someone to sign (COVERAGE).
    app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let account = app.first_account(&owner, &org).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x52908400098527886E0F7030069857D2E4169EE7").await;
    app.credit(&account, "USDC", "1000", "deposit-1").await;
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"payouts\",scopes:[WITHDRAW],allowWebsocket:true}){ apiKey{ keyId secret } } }",
            json!({"o": org}),
        )
        .await;
    let key = &d["createServiceUser"]["apiKey"];
    let fixture = json!({
        "base": app.base, "org": org, "token": owner.token,
        "key": {"id": key["keyId"], "secret": key["secret"]},
    });

    // Events published from here on reach subscriptions registered later.
    app.bus_delivered().await;
    let mut registered = app.state.signals.subscriptions.subscribe();
    let before = *registered.borrow_and_update();
    let client = tokio::process::Command::new("node")
        .arg("graphql-ws-client.mjs")
        .current_dir(tests::browser::browser_dir().await)
        .env("WS_FIXTURE", fixture.to_string())
        .kill_on_drop(true)
        .output();
    let client = tokio::spawn(client);
    tokio::time::timeout(std::time::Duration::from_secs(60), registered.wait_for(|n| *n >= before + 2))
        .await
        .expect("both graphql-ws subscriptions were registered")
        .expect("the server's state lives");

    let withdraw = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id } } }";
    let input = json!({"accountId": account, "asset": "USDC", "amount": "10", "addressId": address});
    let d = app.ok(Some(&maker.token), withdraw, json!({"o": org, "i": input})).await;
    let request = d["withdraw"]["request"]["id"].clone();

    let out = client.await.expect("the client task").expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "graphql-ws client failed:\n{stdout}\n{stderr}");
    let events: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    for who in ["member", "key"] {
        assert_eq!(events[who]["request"]["id"], request, "{who}: {events}");
        assert_eq!(events[who]["request"]["workflow"], "INITIATE_WITHDRAWAL", "{who}: {events}");
    }
}

both_backends!(
    the_specifications_audit_passes,
    get_reads_and_never_writes,
    a_service_user_signs_a_get_as_it_signs_a_post,
    the_reference_client_subscribes
);

//! What a read may reach, end to end: money that would overflow `Decimal` is
//! refused where it enters (and what is already stored answers an error,
//! never a dropped connection); nested fields answer only what their owning
//! top-level query would; service users read only what their scopes name,
//! and only inside their key's query window.

use serde_json::{Value, json};
use tests::{Backend, Session, TestApp, both_backends, spawn};

const OPERATOR: Option<&str> = Some("operator-test-token");
const PRICE: &str = "mutation($a:String!,$p:Decimal!){ setAssetPrice(asset:$a,usdPrice:$p){ symbol usdPrice } }";
const CREDIT: &str = "mutation($a:ID!,$s:String!,$m:Decimal!,$r:String!){ creditAccount(accountId:$a,asset:$s,amount:$m,reference:$r){ balanceAfter } }";
const HOLDINGS: &str =
    "query($o:ID!){ organization(id:$o){ accounts{ holdings{ asset amount available usdValue } } } }";
const ALERT: &str = "query($o:ID!){ organization(id:$o){ balanceAlert{ state totalStablecoinUsd } } }";
const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id } } }";
const CREATE_KEY: &str =
    "mutation($o:ID!,$i:ServiceUserInput!){ createServiceUser(orgId:$o,input:$i){ apiKey{ keyId secret } } }";
const UPDATE_KEY: &str =
    "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ status } } }";
const REQUESTS: &str = "query($o:ID!){ organization(id:$o){ requests(first:50){ edges{ node{ id } } } } }";
const REQUEST: &str = "query($r:ID!){ request(id:$r){ id } }";

/// The first error's code, and its message.
fn error(body: &Value) -> (String, String) {
    let e = &body["errors"][0];
    let code = e["extensions"]["code"].as_str().unwrap_or_default().to_string();
    (code, e["message"].as_str().unwrap_or_default().to_string())
}

/// Every error's code.
fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|es| es.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

fn ids(requests: &Value) -> Vec<String> {
    requests["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_string()).collect()
}

/// An organisation that can move money: Owner, MAKER, APPROVER, SIGNER,
/// READ_ONLY, and a whitelisted USDC address with funds behind it.
struct Treasury {
    org: String,
    account: String,
    owner: Session,
    maker: (Session, String),
    approver: (Session, String),
    reader: (Session, String),
    address: String,
}

async fn treasury(app: &TestApp) -> Treasury {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let maker = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let approver = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let reader = app.add_member(&owner, &org, "reader@example.com", &["READ_ONLY"]).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    app.credit(&account, "USDC", "10000", "custody-1").await;
    Treasury { org, account, owner, maker, approver, reader, address }
}

fn withdrawal(t: &Treasury, amount: &str) -> Value {
    json!({"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": amount, "addressId": t.address}})
}

/// A service user with `scopes` and its first key.
async fn key(app: &TestApp, t: &Treasury, name: &str, scopes: Value) -> (String, String) {
    let d = app.ok(Some(&t.owner.token), CREATE_KEY, json!({"o": t.org, "i": {"name": name, "scopes": scopes}})).await;
    let k = &d["createServiceUser"]["apiKey"];
    (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string())
}

/// Prices and amounts are bounded where they enter; the largest of each
/// still multiply and add up exactly; a value out of range that is already
/// stored answers an error, and the server goes on serving.
async fn money_never_overflows(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;

    // The attack of the report: a 20-digit BTC price, then a large credit.
    let body = app.gql(OPERATOR, PRICE, json!({"a": "BTC", "p": "99999999999999999999"})).await;
    let (code, message) = error(&body);
    assert_eq!(code, "BAD_INPUT", "{body}");
    assert!(message.contains("100000000000 USD"), "the maximum is named: {message}");
    let body = app.gql(OPERATOR, PRICE, json!({"a": "BTC", "p": "0.000000001"})).await;
    assert_eq!(error(&body).0, "BAD_INPUT", "more than 8 decimal places: {body}");
    // A huge stablecoin price would make every balance alert unreadable: refused, nothing committed.
    let body = app.gql(OPERATOR, PRICE, json!({"a": "USDC", "p": "99999999999999999999"})).await;
    assert_eq!(error(&body).0, "BAD_INPUT", "{body}");
    let d = app.ok(None, "{ assets{ symbol usdPrice } }", json!({})).await;
    let usdc = d["assets"].as_array().unwrap().iter().find(|a| a["symbol"] == "USDC").unwrap().clone();
    assert_eq!(usdc["usdPrice"], "1");

    // Amounts: at most 10^15 per credit, and per balance.
    let credit =
        |asset: &str, amount: &str, reference: &str| json!({"a": t.account, "s": asset, "m": amount, "r": reference});
    let body = app.gql(OPERATOR, CREDIT, credit("BTC", "1000000000000001", "too-much")).await;
    let (code, message) = error(&body);
    assert_eq!(code, "BAD_INPUT", "{body}");
    assert!(message.contains("1000000000000000"), "the maximum is named: {message}");
    app.ok(OPERATOR, CREDIT, credit("BTC", "1000000000000000", "btc-max")).await;
    let body = app.gql(OPERATOR, CREDIT, credit("BTC", "0.00000001", "one-more")).await;
    assert_eq!(error(&body).0, "BAD_INPUT", "a balance beyond the maximum: {body}");

    // The largest price times the largest balance is exact, for the holding and the alert.
    app.ok(OPERATOR, PRICE, json!({"a": "BTC", "p": "100000000000"})).await;
    app.ok(OPERATOR, PRICE, json!({"a": "USDC", "p": "100000000000"})).await;
    app.ok(OPERATOR, CREDIT, credit("USDC", "999999999990000", "usdc-max")).await;
    let d = app.ok(Some(&t.owner.token), HOLDINGS, json!({"o": t.org})).await;
    let holdings = d["organization"]["accounts"][0]["holdings"].as_array().unwrap().clone();
    let btc = holdings.iter().find(|h| h["asset"] == "BTC").unwrap();
    assert_eq!(btc["usdValue"], "100000000000000000000000000.00", "{btc}");
    let d = app.ok(Some(&t.owner.token), ALERT, json!({"o": t.org})).await;
    assert_eq!(d["organization"]["balanceAlert"]["totalStablecoinUsd"], "100000000000000000000000000.00");

    // A withdrawal worth more than 10^18 USD is refused (daily limit sums stay in range).
    let body = app.gql(Some(&t.maker.0.token), WITHDRAW, withdrawal(&t, "10000001")).await;
    let (code, message) = error(&body);
    assert_eq!(code, "BAD_INPUT", "{body}");
    assert!(message.contains("1000000000000000000"), "{message}");

    // What an earlier version could have stored — a price beyond any bound —
    // answers a clear error on every read that multiplies it, never a
    // dropped connection, and the next request is served.
    use sea_orm::ConnectionTrait;
    let db = app.db().await;
    db.execute_unprepared(
        "UPDATE assets SET usd_price = '79228162514264337593543950335' WHERE symbol IN ('USDC', 'BTC')",
    )
    .await
    .unwrap();
    for query in [HOLDINGS, ALERT] {
        let body = app.gql(Some(&t.owner.token), query, json!({"o": t.org})).await;
        let (code, message) = error(&body);
        assert_eq!(code, "BAD_INPUT", "{body}");
        assert!(message.contains("beyond the largest exact decimal"), "{message}");
    }
    // In one batch, the overflowing read fails alone.
    let batch = json!([
        {"query": ALERT, "variables": {"o": t.org}},
        {"query": "query($o:ID!){ organization(id:$o){ name } }", "variables": {"o": t.org}},
    ]);
    let resp =
        app.client.post(format!("{}/graphql", app.base)).bearer_auth(&t.owner.token).json(&batch).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let answers: Value = resp.json().await.unwrap();
    assert_eq!(error(&answers[0]).0, "BAD_INPUT", "{answers}");
    assert_eq!(answers[1]["data"]["organization"]["name"], "Acme", "{answers}");
    let d = app.ok(Some(&t.owner.token), "query($o:ID!){ organization(id:$o){ name } }", json!({"o": t.org})).await;
    assert_eq!(d["organization"]["name"], "Acme");

    // Money columns are typed: stored text that is not a decimal is a read
    // error (INTERNAL, detail logged), never a panic, and the next request is served.
    // Holdings are cached by the organisation's version (its audit sequence),
    // which every write through the service advances; this write goes around
    // the service, so it advances the version itself.
    db.execute_unprepared("UPDATE holdings SET amount = 'not money' WHERE asset = 'BTC'").await.unwrap();
    db.execute_unprepared("UPDATE organizations SET audit_seq = audit_seq + 1").await.unwrap();
    let body = app.gql(Some(&t.owner.token), HOLDINGS, json!({"o": t.org})).await;
    assert_eq!(error(&body).0, "INTERNAL", "{body}");
    let d = app.ok(Some(&t.owner.token), "query($o:ID!){ organization(id:$o){ name } }", json!({"o": t.org})).await;
    assert_eq!(d["organization"]["name"], "Acme");
}

/// Each nested field answers only what its owning query would: grants and
/// delegations (the member, or VIEW on MANAGE_ACCESS), a request's history
/// (the audit log's VIEW), and every Member field through the same
/// membership, second-factor and idle checks as `organization`.
async fn nested_fields_check_like_their_owning_query(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let (maker, maker_member) = (&t.maker.0, t.maker.1.clone());
    let (approver, approver_member) = (&t.approver.0, t.approver.1.clone());
    let reader = &t.reader.0;
    let grant = "mutation($o:ID!,$m:ID!){ grantPermission(orgId:$o,memberId:$m,workflow:MANAGE_POLICIES,action:VIEW){ request{ status } } }";
    for m in [&maker_member, &approver_member] {
        app.ok(Some(&t.owner.token), grant, json!({"o": t.org, "m": m})).await;
    }
    let until = (app.now() + chrono::Duration::days(7)).to_rfc3339();
    let delegate = "mutation($o:ID!,$i:DelegationInput!){ delegateApproval(orgId:$o,input:$i){ request{ status } } }";
    let input = json!({"toMemberId": maker_member, "workflow": "INITIATE_WITHDRAWAL", "until": until});
    let d = app.ok(Some(&approver.token), delegate, json!({"o": t.org, "i": input})).await;
    assert_eq!(d["delegateApproval"]["request"]["status"], "COMPLETED");

    // Grants and delegations of others: not for a MAKER (no VIEW on MANAGE_ACCESS)…
    let all = "query($o:ID!){ organization(id:$o){ members{ id grants{ workflow } delegationsGiven{ id } delegationsReceived{ id } } } }";
    for field in ["grants{ workflow }", "delegationsGiven{ id }", "delegationsReceived{ id }"] {
        let q = format!("query($o:ID!){{ organization(id:$o){{ members{{ id {field} }} }} }}");
        let body = app.gql(Some(&maker.token), &q, json!({"o": t.org})).await;
        assert!(codes(&body).contains(&"FORBIDDEN".to_string()), "{field}: {body}");
    }
    // …but their own, and the member list itself (roles included), as the members query allows.
    let own = "query($o:ID!){ organization(id:$o){ members{ id roles } viewerMember{ grants{ workflow action } delegationsReceived{ fromMemberId active } } } }";
    let d = app.ok(Some(&maker.token), own, json!({"o": t.org})).await;
    assert_eq!(d["organization"]["members"].as_array().unwrap().len(), 5);
    assert_eq!(d["organization"]["viewerMember"]["grants"], json!([{"workflow": "MANAGE_POLICIES", "action": "VIEW"}]));
    assert_eq!(
        d["organization"]["viewerMember"]["delegationsReceived"],
        json!([{"fromMemberId": approver_member, "active": true}])
    );
    // A READ_ONLY member holds VIEW on MANAGE_ACCESS: everyone's.
    let d = app.ok(Some(&reader.token), all, json!({"o": t.org})).await;
    let members = d["organization"]["members"].as_array().unwrap();
    let of = |id: &str| members.iter().find(|m| m["id"] == id).unwrap().clone();
    assert_eq!(of(&maker_member)["grants"], json!([{"workflow": "MANAGE_POLICIES"}]));
    assert_eq!(of(&approver_member)["delegationsGiven"].as_array().unwrap().len(), 1);

    // Request.history is audit data: the audit log's VIEW, not the request's.
    let d = app.ok(Some(&maker.token), WITHDRAW, withdrawal(&t, "10")).await;
    let r = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    let history = "query($r:ID!){ request(id:$r){ id history{ action } } }";
    let body = app.gql(Some(&maker.token), history, json!({"r": r})).await;
    assert_eq!(codes(&body), ["FORBIDDEN"], "the maker's own request: {body}");
    let audit = "query($o:ID!){ organization(id:$o){ auditLog(first:1){ edges{ node{ seq } } } } }";
    assert_eq!(app.err(Some(&maker.token), audit, json!({"o": t.org})).await, "FORBIDDEN", "as for the audit log");
    let body = app.gql(Some(&approver.token), history, json!({"r": r})).await;
    assert_eq!(codes(&body), ["FORBIDDEN"], "an approver sees the request, not its audit records: {body}");
    let d = app.ok(Some(&reader.token), history, json!({"r": r})).await;
    let actions: Vec<&str> =
        d["request"]["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert!(!actions.is_empty(), "{d}");

    // A member whose session has no second factor cannot read the
    // organisation, nor its data through viewer.memberships.
    let r = app.invite(&t.owner, &t.org, "late@example.com", &["SIGNER"]).await;
    assert_eq!(r["status"], "COMPLETED");
    let token = app.outbox_token("late@example.com").await;
    let late = app.sign_up("late@example.com").await;
    app.ok(Some(&late.token), "mutation($t:String!){ acceptInvitation(token:$t){ id } }", json!({"t": token})).await;
    let org = "query($o:ID!){ organization(id:$o){ name } }";
    assert_eq!(app.err(Some(&late.token), org, json!({"o": t.org})).await, "TWO_FACTOR_REQUIRED");
    for field in
        ["grants{ workflow }", "signerUsage{ usedTodayUsd }", "delegationsGiven{ id }", "delegationsReceived{ id }"]
    {
        let q = format!("{{ viewer{{ memberships{{ id roles {field} }} }} }}");
        let body = app.gql(Some(&late.token), &q, json!({})).await;
        assert_eq!(codes(&body), ["TWO_FACTOR_REQUIRED"], "{field}: {body}");
    }
    // Once verified, the same query answers.
    let mut late = late;
    app.enrol(&mut late).await;
    let d = app
        .ok(Some(&late.token), "{ viewer{ memberships{ grants{ workflow } signerUsage{ usedTodayUsd } } } }", json!({}))
        .await;
    assert_eq!(d["viewer"]["memberships"][0]["signerUsage"]["usedTodayUsd"], "0");
}

/// A service user reads only what its scopes name: never members or their
/// e-mails and names; policies, usage and balances with QUERY_FUNDS or
/// WITHDRAW; and always its own requests.
async fn service_users_read_what_their_scopes_name(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    // Withdrawals wait for an approval, so they have eligible approvers to show.
    let policy = "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }";
    app.ok(Some(&t.owner.token), policy, json!({"o": t.org})).await;
    let bot = key(&app, &t, "bot", json!(["WITHDRAW"])).await;
    let (_, body) = app.signed(&bot, 1, WITHDRAW, withdrawal(&t, "5")).await;
    let own = body["data"]["withdraw"]["request"]["id"].as_str().expect("the key's withdrawal").to_string();
    let d = app.ok(Some(&t.maker.0.token), WITHDRAW, withdrawal(&t, "6")).await;
    let makers = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    // Down to EARN only: a scope that gates nothing.
    let d = app.ok(Some(&t.owner.token), UPDATE_KEY, json!({"o": t.org, "k": bot.0, "p": {"scopes": ["EARN"]}})).await;
    assert_eq!(d["updateApiKey"]["request"]["status"], "COMPLETED");

    let refused = [
        "query($o:ID!){ organization(id:$o){ members{ id } } }",
        "query($o:ID!){ organization(id:$o){ members{ roles user{ email name } } } }",
        "query($o:ID!){ organization(id:$o){ policies{ workflow } } }",
        "query($o:ID!){ organization(id:$o){ usage{ heldUsd } } }",
        "query($o:ID!){ organization(id:$o){ limits{ heldUsd } } }",
        "query($o:ID!){ organization(id:$o){ balanceAlert{ totalStablecoinUsd } } }",
        "query($o:ID!){ organization(id:$o){ balanceAlertHistory{ state } } }",
        "query($o:ID!){ organization(id:$o){ accounts{ holdings{ amount } } } }",
        "query($o:ID!){ viewer{ serviceUser{ keys{ usage{ heldUsd } } } } organization(id:$o){ id } }",
    ];
    let mut nonce = 10;
    for q in refused {
        nonce += 1;
        let (_, body) = app.signed(&bot, nonce, q, json!({"o": t.org})).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "EARN-only: {q}: {body}");
    }
    // Nor through a dry run's figures.
    nonce += 1;
    let q = "query($o:ID!,$i:WithdrawalInput!){ simulateWithdrawal(orgId:$o,input:$i){ outcome usageAfter{ layer } } }";
    let (_, body) = app.signed(&bot, nonce, q, withdrawal(&t, "1")).await;
    assert_eq!(body["data"]["simulateWithdrawal"], json!({"outcome": "REFUSED", "usageAfter": []}), "{body}");
    // Its own requests, always; nobody else's.
    nonce += 1;
    let (_, body) = app.signed(&bot, nonce, REQUESTS, json!({"o": t.org})).await;
    assert_eq!(ids(&body["data"]["organization"]["requests"]), std::slice::from_ref(&own), "{body}");
    nonce += 1;
    let q = "query($r:ID!){ request(id:$r){ id requester{ kind user{ id } } } }";
    let (_, body) = app.signed(&bot, nonce, q, json!({"r": own})).await;
    assert_eq!(body["data"]["request"]["requester"], json!({"kind": "SERVICE_USER", "user": null}), "{body}");
    nonce += 1;
    let (_, body) = app.signed(&bot, nonce, REQUEST, json!({"r": makers})).await;
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
    // People behind a request are not shown to it either.
    nonce += 1;
    let q = "query($r:ID!){ request(id:$r){ status eligibleApprovers{ id email } } }";
    let (_, body) = app.signed(&bot, nonce, q, json!({"r": own})).await;
    assert!(!codes(&body).is_empty() && codes(&body).iter().all(|c| c == "FORBIDDEN"), "{body}");
    nonce += 1;
    let q = "query($r:ID!){ request(id:$r){ status eligibleApprovers{ id } } }";
    let (_, body) = app.signed(&bot, nonce, q, json!({"r": own})).await;
    assert_eq!(body["data"]["request"]["status"], "PENDING_APPROVAL", "{body}");
    assert!(!body["data"]["request"]["eligibleApprovers"].as_array().unwrap().is_empty(), "{body}");

    // QUERY_FUNDS reads policies, usage and balances, never people.
    let funds = key(&app, &t, "reporting", json!(["QUERY_FUNDS"])).await;
    let q = "query($o:ID!){ organization(id:$o){ policies{ workflow } usage{ layer } balanceAlert{ totalStablecoinUsd } accounts{ holdings{ amount } } } viewer{ serviceUser{ keys{ usage{ heldUsd } } } } }";
    let (_, body) = app.signed(&funds, 1, q, json!({"o": t.org})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["organization"]["balanceAlert"]["totalStablecoinUsd"], "10000.00");
    let (_, body) =
        app.signed(&funds, 2, "query($o:ID!){ organization(id:$o){ members{ id } } }", json!({"o": t.org})).await;
    assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
    // And the members' side is unchanged.
    let d = app
        .ok(
            Some(&t.reader.0.token),
            "query($o:ID!){ organization(id:$o){ members{ user{ email } } policies{ workflow } usage{ layer } } }",
            json!({"o": t.org}),
        )
        .await;
    assert_eq!(d["organization"]["members"].as_array().unwrap().len(), 5);
}

/// A key's query window bounds every history it reads, requests included.
async fn query_windows_bound_requests(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let bot = key(&app, &t, "bot", json!(["WITHDRAW"])).await;
    let (_, body) = app.signed(&bot, 1, WITHDRAW, withdrawal(&t, "1")).await;
    let early = body["data"]["withdraw"]["request"]["id"].as_str().expect("early withdrawal").to_string();
    app.clock.advance(chrono::Duration::hours(2));
    let (_, body) = app.signed(&bot, 2, WITHDRAW, withdrawal(&t, "2")).await;
    let late = body["data"]["withdraw"]["request"]["id"].as_str().expect("late withdrawal").to_string();
    let (_, body) = app.signed(&bot, 3, REQUESTS, json!({"o": t.org})).await;
    let before = ids(&body["data"]["organization"]["requests"]);
    assert!(before.contains(&early) && before.contains(&late), "{body}");

    let owner = app.sign_in(&t.owner).await;
    let start = (app.now() - chrono::Duration::hours(1)).to_rfc3339();
    app.ok(Some(&owner), UPDATE_KEY, json!({"o": t.org, "k": bot.0, "p": {"queryStart": start}})).await;
    let (_, body) = app.signed(&bot, 4, REQUESTS, json!({"o": t.org})).await;
    let seen = ids(&body["data"]["organization"]["requests"]);
    assert!(seen.contains(&late) && !seen.contains(&early), "only requests made since queryStart: {body}");
    let (_, body) = app.signed(&bot, 5, REQUEST, json!({"r": early})).await;
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
    let (_, body) = app.signed(&bot, 6, REQUEST, json!({"r": late})).await;
    assert_eq!(body["data"]["request"]["id"], late.as_str(), "{body}");

    // An end before the late request hides it too.
    let end = (app.now() - chrono::Duration::minutes(30)).to_rfc3339();
    app.ok(Some(&owner), UPDATE_KEY, json!({"o": t.org, "k": bot.0, "p": {"queryEnd": end}})).await;
    let (_, body) = app.signed(&bot, 7, REQUESTS, json!({"o": t.org})).await;
    assert_eq!(ids(&body["data"]["organization"]["requests"]), Vec::<String>::new(), "{body}");
    let (_, body) = app.signed(&bot, 8, REQUEST, json!({"r": late})).await;
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
    // Members have no window.
    let d = app.ok(Some(&owner), REQUESTS, json!({"o": t.org})).await;
    let all = ids(&d["organization"]["requests"]);
    assert!(all.contains(&early) && all.contains(&late));
}

both_backends!(
    money_never_overflows,
    nested_fields_check_like_their_owning_query,
    service_users_read_what_their_scopes_name,
    query_windows_bound_requests,
);

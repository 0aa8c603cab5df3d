//! Whitelisted addresses are valid addresses of a known network (issue 22),
//! end to end on both databases: every listed network whitelists a valid
//! address and refuses a mutated one; one address in two spellings is one
//! address; an invalid row already stored is reported and cannot receive;
//! and a limit refusal's figures add up, as `simulateWithdrawal` reports them.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use tests::{Backend, Session, TestApp, both_backends, spawn};

const ADD: &str = "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }";
const ADDRESSES: &str =
    "query($o:ID!){ organization(id:$o){ addresses{ id asset network address valid invalidReason } } }";
const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";
const EXECUTE: &str = "mutation($r:ID!){ execute(requestId:$r){ id status } }";
const SIMULATE: &str = "query($o:ID!,$i:WithdrawalInput!){ simulateWithdrawal(orgId:$o,input:$i){ outcome failures{ code message layer limit capUsd usedUsd heldUsd amountUsd overshootUsd } } }";

/// A valid address of each listed network, by the name `networks` gives.
fn valid_address(network: &str) -> &'static [&'static str] {
    match network {
        "ethereum" => &["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"],
        "polygon" => &["0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"],
        "arbitrum" => &["0xDBF03B407C01E7CD3CBEA99509D93F8DDDC8C6FB"],
        "base" => &["0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"],
        "tron" => &["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"],
        "solana" => &["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"],
        "bitcoin" => &[
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ],
        other => panic!("a network the test does not know: {other}; add a valid address for it"),
    }
}

/// `s` with the character at `i` replaced by `c`.
fn replace_at(s: &str, i: usize, c: char) -> String {
    s.chars().enumerate().map(|(j, x)| if j == i { c } else { x }).collect()
}

/// The same address with one character changed to another of its alphabet
/// (or, for Solana, which has no checksum, to a character outside it), and
/// what the refusal must name.
fn one_character_changed(network: &str, a: &str) -> (String, &'static str) {
    match network {
        // A digit in the middle changed: the EIP-55 checksum no longer matches.
        "ethereum" | "base" => (replace_at(a, 10, if a.chars().nth(10) == Some('9') { '8' } else { '9' }), "checksum"),
        // All one case carries no checksum, so change a digit to a non-hex letter.
        "polygon" | "arbitrum" => (replace_at(a, 10, 'g'), "not hexadecimal"),
        "tron" | "bitcoin" => {
            let c = if a.chars().nth(12).is_some_and(|c| c.eq_ignore_ascii_case(&'x')) { 'y' } else { 'x' };
            // Segwit in upper case stays in upper case: mixed case is another refusal.
            let c = if a.starts_with("BC1") { c.to_ascii_uppercase() } else { c };
            (replace_at(a, 12, c), "checksum")
        }
        "solana" => (replace_at(a, 12, '0'), "not base58"),
        _ => unreachable!(),
    }
}

/// The same address with its checksum broken (the last character changed).
fn checksum_broken(network: &str, a: &str) -> (String, &'static str) {
    let last = a.chars().count() - 1;
    match network {
        // A letter's case flipped.
        "ethereum" | "base" => {
            let i = a.char_indices().skip(2).find(|(_, c)| c.is_ascii_alphabetic()).unwrap().0;
            let flipped = a[i..i + 1]
                .chars()
                .map(|c| if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() });
            (format!("{}{}{}", &a[..i], flipped.collect::<String>(), &a[i + 1..]), "checksum")
        }
        "tron" => (replace_at(a, last, if a.ends_with('t') { 'u' } else { 't' }), "checksum"),
        "bitcoin" => {
            let swap = if a.starts_with("BC1") {
                ('Q', 'P')
            } else if a.starts_with("bc1") {
                ('q', 'p')
            } else {
                ('a', 'b')
            };
            let c = a.chars().last().unwrap();
            (replace_at(a, last, if c == swap.0 { swap.1 } else { swap.0 }), "checksum")
        }
        // No checksum to break on Solana, and none on a one-case EVM address:
        // a wrong length stands in.
        "solana" => (format!("{a}{a}"), "wrong length"),
        _ => (format!("{a}0"), "wrong length"),
    }
}

/// The address cut short: by one character, or for Solana by four (a
/// 43-character base58 text can still be 32 bytes, and with no checksum it
/// is then some other valid key).
fn wrong_length(network: &str, a: &str) -> String {
    let cut = if network == "solana" { 4 } else { 1 };
    a.chars().take(a.chars().count() - cut).collect()
}

async fn refused(app: &TestApp, owner: &Session, org: &str, input: Value, expect: &str) {
    let body = app.gql(Some(&owner.token), ADD, json!({"o": org, "i": input.clone()})).await;
    let e = &body["errors"][0];
    assert_eq!(e["extensions"]["code"], "BAD_INPUT", "{input}: {body}");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.contains(expect), "{input}: expected {expect:?} in {message:?}");
}

async fn every_network_whitelists_valid_and_refuses_mutated(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    // The networks are reference data, offered to clients with their assets.
    let d = app
        .ok(
            Some(&owner.token),
            "{ networks{ name displayName addressFormat addressExample assets{ symbol decimals } } }",
            json!({}),
        )
        .await;
    let networks = d["networks"].as_array().unwrap().clone();
    let names: Vec<&str> = networks.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ethereum", "polygon", "arbitrum", "base", "tron", "solana", "bitcoin"]);
    let mut whitelisted = 0;
    for n in &networks {
        let name = n["name"].as_str().unwrap();
        let asset = n["assets"][0]["symbol"].as_str().unwrap();
        assert!(!n["addressFormat"].as_str().unwrap().is_empty());
        for (i, address) in valid_address(name).iter().enumerate() {
            let input = |address: &str| json!({"accountId": account, "asset": asset, "network": name, "address": address, "label": format!("{name} {i}")});
            let id = app.whitelist_on(&owner, &org, &account, asset, name, address).await;
            whitelisted += 1;
            assert!(!id.is_empty());
            let (changed, why) = one_character_changed(name, address);
            refused(&app, &owner, &org, input(&changed), why).await;
            let (broken, why) = checksum_broken(name, address);
            refused(&app, &owner, &org, input(&broken), why).await;
            refused(&app, &owner, &org, input(&wrong_length(name, address)), "").await;
        }
        // An asset the network does not carry.
        let foreign = if name == "bitcoin" { "USDC" } else { "BTC" };
        let mut i = json!({"accountId": account, "asset": foreign, "network": name, "address": valid_address(name)[0], "label": "x"});
        refused(&app, &owner, &org, i.clone(), &format!("is not on {name}")).await;
        // The right address on a network of another format.
        let other = if n["addressFormat"] == networks[0]["addressFormat"] { "tron" } else { "ethereum" };
        i["asset"] = json!("USDT");
        i["network"] = json!(other);
        refused(&app, &owner, &org, i, "address").await;
    }
    // Named wrong lengths, and an unknown network.
    let input = |network: &str, asset: &str, address: &str| json!({"accountId": account, "asset": asset, "network": network, "address": address, "label": "x"});
    refused(&app, &owner, &org, input("ethereum", "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe"), "wrong length")
        .await;
    refused(&app, &owner, &org, input("tron", "USDT", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6"), "wrong length").await;
    refused(&app, &owner, &org, input("solana", "USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyT"), "wrong length")
        .await;
    refused(&app, &owner, &org, input("eth", "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), "unknown network")
        .await;
    refused(&app, &owner, &org, input("ethereum", "USDC", "0xA11ce"), "wrong length").await;
    // Every one whitelisted is valid, stored in its canonical spelling.
    let d = app.ok(Some(&owner.token), ADDRESSES, json!({"o": org})).await;
    let rows = d["organization"]["addresses"].as_array().unwrap();
    assert_eq!(rows.len(), whitelisted);
    assert!(rows.iter().all(|a| a["valid"] == true && a["invalidReason"].is_null()), "{rows:?}");
    let polygon = rows.iter().find(|a| a["network"] == "polygon").unwrap();
    assert_eq!(polygon["address"], "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "stored as EIP-55");
    assert!(rows.iter().any(|a| a["address"] == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"), "segwit lower-cased");
    app.stop().await;
}

async fn two_spellings_are_one_address(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    app.whitelist(&owner, &org, &account, "USDC", &checksummed.to_lowercase()).await;
    let input = |network: &str, address: &str| json!({"o": org, "i": {"accountId": account, "asset": "USDC", "network": network, "address": address, "label": "again"}});
    for spelling in
        [checksummed.to_string(), checksummed.to_lowercase(), format!("0x{}", checksummed[2..].to_uppercase())]
    {
        let body = app.gql(Some(&owner.token), ADD, input("ethereum", &spelling)).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{spelling}: {body}");
        let body = app.gql(Some(&owner.token), ADD, input("Ethereum", &format!("  {spelling} "))).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{spelling}: {body}");
    }
    // The same bytes on another network are another destination.
    app.whitelist_on(&owner, &org, &account, "USDC", "base", checksummed).await;
    // Segwit in upper and lower case is one address too.
    app.whitelist_on(&owner, &org, &account, "BTC", "bitcoin", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").await;
    let body = app
        .gql(
            Some(&owner.token),
            ADD,
            json!({"o": org, "i": {"accountId": account, "asset": "BTC", "network": "bitcoin", "address": "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "label": "again"}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    let d = app.ok(Some(&owner.token), ADDRESSES, json!({"o": org})).await;
    let rows = d["organization"]["addresses"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["address"], checksummed);
    app.stop().await;
}

struct Ready {
    owner: Session,
    maker: Session,
    signer: Session,
    org: String,
    account: String,
}

/// An organisation that can make withdrawals: a maker, an approver, a signer, USDC.
async fn ready(app: &TestApp) -> Ready {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    app.credit(&account, "USDC", "100000", "custody-1").await;
    Ready { owner, maker, signer, org, account }
}

async fn invalid_rows_are_reported_and_cannot_receive(backend: Backend) {
    use sea_orm::{ActiveModelTrait, Set};
    let app = spawn(backend).await;
    let r = ready(&app).await;
    // Rows whitelisted before networks were checked, as the database holds them.
    let db = app.db().await;
    let mut ids = Vec::new();
    for (network, asset, address) in [
        ("ethereum", "USDC", "0xA11ce"),
        ("eth", "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        ("bitcoin", "USDC", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ] {
        let id = uuid::Uuid::new_v4().to_string();
        entity::address::ActiveModel {
            id: Set(id.clone()),
            org_id: Set(r.org.clone()),
            account_id: Set(r.account.clone()),
            asset: Set(asset.into()),
            network: Set(network.into()),
            address: Set(address.into()),
            label: Set(format!("old {network}")),
            status: Set(api::domain::RecordStatus::Active),
            created_at: Set(app.now()),
            usable_from: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
        ids.push(id);
    }
    let d = app.ok(Some(&r.owner.token), ADDRESSES, json!({"o": r.org})).await;
    let rows = d["organization"]["addresses"].as_array().unwrap();
    let reason = |id: &str| rows.iter().find(|a| a["id"] == id).unwrap().clone();
    for (id, why) in ids.iter().zip(["wrong length", "unknown network", "not on bitcoin"]) {
        let row = reason(id);
        assert_eq!(row["valid"], false, "{row}");
        assert!(row["invalidReason"].as_str().unwrap().contains(why), "{row}");
        let i = json!({"accountId": r.account, "asset": "USDC", "amount": "10", "addressId": id});
        let body = app.gql(Some(&r.maker.token), WITHDRAW, json!({"o": r.org, "i": i.clone()})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("not a valid address") && message.contains(why), "{message}");
        let sim = app.ok(Some(&r.maker.token), SIMULATE, json!({"o": r.org, "i": i})).await;
        assert_eq!(sim["simulateWithdrawal"]["outcome"], "REFUSED");
        assert_eq!(sim["simulateWithdrawal"]["failures"][0]["message"], message);
    }
    // Replaced by a valid one, withdrawals go through.
    let good = app.whitelist(&r.owner, &r.org, &r.account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    let i = json!({"accountId": r.account, "asset": "USDC", "amount": "10", "addressId": good});
    let d = app.ok(Some(&r.maker.token), WITHDRAW, json!({"o": r.org, "i": i})).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
    let _ = &r.signer;
    app.stop().await;
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("a decimal string: {v}"))).unwrap()
}

/// used + held + amount − cap = overshoot, in the refusal's extensions, its
/// message and the dry run's failure alike.
fn figures_add_up(ext: &Value) {
    let (cap, used, held, amount, over) = (
        dec(&ext["capUsd"]),
        dec(&ext["usedUsd"]),
        dec(&ext["heldUsd"]),
        dec(&ext["amountUsd"]),
        dec(&ext["overshootUsd"]),
    );
    assert_eq!(used + held + amount - cap, over, "{ext}");
    assert!(over > Decimal::ZERO, "{ext}");
}

async fn limit_refusals_say_the_real_figures(backend: Backend) {
    let app = spawn(backend).await;
    let r = ready(&app).await;
    let address =
        app.whitelist(&r.owner, &r.org, &r.account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    app.ok(
        Some(&r.owner.token),
        "mutation($o:ID!){ setRiskLimits(orgId:$o,input:{layer:ORGANIZATION,dailyCapUsd:\"50000\"}){ request{ status } } }",
        json!({"o": r.org}),
    )
    .await;
    let w = |amount: &str| json!({"o": r.org, "i": {"accountId": r.account, "asset": "USDC", "amount": amount, "addressId": address}});
    // 30000 used (executed), 19500 held (approved, not yet executed).
    let d = app.ok(Some(&r.maker.token), WITHDRAW, w("30000")).await;
    let first = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    let d = app.ok(Some(&r.signer.token), EXECUTE, json!({"r": first})).await;
    assert_eq!(d["execute"]["status"], "COMPLETED");
    app.ok(Some(&r.maker.token), WITHDRAW, w("19500")).await;

    // 1000.25 more would overshoot the cap by 500.25, not by 1000.25.
    let body = app.gql(Some(&r.maker.token), WITHDRAW, w("1000.25")).await;
    let e = &body["errors"][0];
    let ext = &e["extensions"];
    assert_eq!(ext["code"], "LIMIT_EXCEEDED", "{body}");
    assert_eq!(ext["layer"], "ORGANIZATION");
    assert_eq!(ext["limit"], "DAILY_CAP");
    assert_eq!(
        (&ext["capUsd"], &ext["usedUsd"], &ext["heldUsd"], &ext["amountUsd"], &ext["overshootUsd"]),
        (&json!("50000"), &json!("30000"), &json!("19500"), &json!("1000.25"), &json!("500.25"))
    );
    figures_add_up(ext);
    let message = e["message"].as_str().unwrap();
    for figure in ["50000 USD", "exceeded by 500.25 USD", "30000 USD used", "19500 USD held", "1000.25 USD"] {
        assert!(message.contains(figure), "{figure:?} in {message:?}");
    }
    // The dry run reports the same figures.
    let sim = app.ok(Some(&r.maker.token), SIMULATE, w("1000.25")).await;
    let failures = sim["simulateWithdrawal"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    assert_eq!(f["code"], "LIMIT_EXCEEDED");
    assert_eq!(f["message"], message);
    for (ours, theirs) in [
        ("layer", "layer"),
        ("limit", "limit"),
        ("capUsd", "capUsd"),
        ("usedUsd", "usedUsd"),
        ("heldUsd", "heldUsd"),
        ("amountUsd", "amountUsd"),
        ("overshootUsd", "overshootUsd"),
    ] {
        assert_eq!(f[ours], ext[theirs], "{ours}");
    }
    figures_add_up(f);
    // Exactly up to the cap fits.
    let sim = app.ok(Some(&r.maker.token), SIMULATE, w("500")).await;
    assert_eq!(sim["simulateWithdrawal"]["failures"], json!([]));

    // A per-transaction maximum: nothing else counts against it.
    app.ok(
        Some(&r.owner.token),
        "mutation($o:ID!){ setRiskLimits(orgId:$o,input:{layer:ORGANIZATION,perTransactionMaxUsd:\"100\"}){ request{ status } } }",
        json!({"o": r.org}),
    )
    .await;
    let body = app.gql(Some(&r.maker.token), WITHDRAW, w("150.5")).await;
    let ext = &body["errors"][0]["extensions"];
    assert_eq!(ext["limit"], "PER_TRANSACTION_MAX", "{body}");
    assert_eq!(
        (&ext["capUsd"], &ext["amountUsd"], &ext["overshootUsd"]),
        (&json!("100"), &json!("150.5"), &json!("50.5"))
    );
    assert_eq!((&ext["usedUsd"], &ext["heldUsd"]), (&json!("0"), &json!("0")));
    figures_add_up(ext);
    app.stop().await;
}

/// Many clients whitelisting one address at once, each in its own spelling
/// and request: exactly one gets it, every other is `CONFLICT`, and one row
/// is stored. (The check and the insert hold the account's row lock.)
async fn racing_spellings_whitelist_one_row(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    let spellings =
        [checksummed.to_string(), checksummed.to_lowercase(), format!("0x{}", checksummed[2..].to_uppercase())];
    let attempts = (0..12).map(|i| {
        let address = spellings[i % spellings.len()].clone();
        let vars = json!({"o": org, "i": {"accountId": account, "asset": "USDC", "network": "ethereum", "address": address, "label": format!("race {i}")}});
        let (app, token) = (&app, owner.token.clone());
        async move { app.gql(Some(&token), ADD, vars).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let won = answers.iter().filter(|b| b["data"]["addAddress"]["request"]["status"] == "COMPLETED").count();
    let conflicts = answers.iter().filter(|b| b["errors"][0]["extensions"]["code"] == "CONFLICT").count();
    assert_eq!((won, conflicts), (1, 11), "{answers:?}");
    let d = app.ok(Some(&owner.token), ADDRESSES, json!({"o": org})).await;
    let rows = d["organization"]["addresses"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["address"], checksummed);
    app.stop().await;
}

both_backends!(
    racing_spellings_whitelist_one_row,
    every_network_whitelists_valid_and_refuses_mutated,
    two_spellings_are_one_address,
    invalid_rows_are_reported_and_cannot_receive,
    limit_refusals_say_the_real_figures,
);

//! Seeding a treasury for the scenarios, and the clients' request helpers.
//!
//! Organisations, accounts, credits, addresses, policies, limits and API
//! keys are set up through GraphQL, as clients would. People are the one
//! shortcut: a user with TOTP enabled and a two-factor-verified session is
//! inserted directly (what `signUp`, `enrollTotp` and `confirmTotp` leave
//! behind), and so are memberships (what an accepted invitation leaves),
//! because sign-up's argon2 and the invitation e-mail are not what is
//! measured and would make seeding 1,000 subscribers slow.

use anyhow::{Context, bail};
use api::domain::{MemberStatus, Role, RoleSet};
use chrono::Utc;
use entity::{member, session, user};
use hmac::{Hmac, Mac};
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde_json::{Value, json};
use sha2::Sha256;

/// A GraphQL-over-HTTP client for one server.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("HTTP client");
        Self { http, url: format!("{base}/graphql") }
    }

    /// Posts an operation with an optional bearer token; `data`, or the errors as an error.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> anyhow::Result<Value> {
        let mut req = self.http.post(&self.url).json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let body: Value = req.send().await?.json().await?;
        if let Some(e) = body.get("errors") {
            bail!("GraphQL errors: {e}\nquery: {query}");
        }
        Ok(body["data"].clone())
    }

    /// Posts a body and reports whether the answer has no errors (the body is not parsed).
    pub async fn post_raw(&self, req: reqwest::RequestBuilder) -> anyhow::Result<bool> {
        let resp = req.send().await?;
        let ok = resp.status().is_success();
        let bytes = resp.bytes().await?;
        Ok(ok && !contains(&bytes, b"\"errors\""))
    }

    /// A POST of `body` with a bearer token.
    pub fn bearer(&self, token: &str, body: &str) -> reqwest::RequestBuilder {
        self.http.post(&self.url).header("content-type", "application/json").bearer_auth(token).body(body.to_string())
    }

    /// A POST of `body` signed with an API key (SPEC §2).
    pub fn signed(&self, key: &ApiKey, nonce: u64, body: &str) -> reqwest::RequestBuilder {
        let nonce = nonce.to_string();
        self.http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("X-Api-Key", &key.id)
            .header("X-Api-Nonce", &nonce)
            .header("X-Api-Signature", sign(&key.secret, &nonce, body.as_bytes()))
            .body(body.to_string())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Lowercase hex HMAC-SHA256 over `nonce + "\n" + body`, keyed with the secret's text.
pub fn sign(secret: &str, nonce: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An API key as a client holds it.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: String,
    pub secret: String,
}

/// A person with a verified session.
#[derive(Clone, Debug)]
pub struct Person {
    pub user_id: String,
    pub token: String,
}

/// Inserts `n` people (users with TOTP enabled and a verified session each).
pub async fn people(db: &DatabaseConnection, prefix: &str, n: usize) -> anyhow::Result<Vec<Person>> {
    let now = Utc::now();
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let (mut users, mut sessions) = (Vec::new(), Vec::new());
        for i in chunk {
            let user_id = api::domain::new_id();
            let token = api::secrets::new_token();
            users.push(user::ActiveModel {
                id: Set(user_id.clone()),
                email: Set(format!("{prefix}-{i}@bench.example")),
                name: Set(format!("{prefix} {i}")),
                password_hash: Set("!bench: no password".into()),
                totp_secret: Set(Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into())),
                totp_secret_sealed: Set(None),
                totp_enrolling_session_id: Set(None),
                totp_enabled_at: Set(Some(now)),
                totp_last_step: Set(None),
                created_at: Set(now),
            });
            sessions.push(session::ActiveModel {
                id: Set(api::domain::new_id()),
                token_hash: Set(api::secrets::digest(&token)),
                user_id: Set(user_id.clone()),
                created_at: Set(now),
                last_used_at: Set(now),
                two_factor_verified: Set(true),
                ended_at: Set(None),
            });
            out.push(Person { user_id, token });
        }
        user::Entity::insert_many(users).exec(db).await?;
        session::Entity::insert_many(sessions).exec(db).await?;
    }
    Ok(out)
}

/// Makes each person an active member of `org` with `roles`.
pub async fn join(db: &DatabaseConnection, org: &str, who: &[Person], roles: &[Role]) -> anyhow::Result<Vec<String>> {
    let roles = RoleSet::from_input(roles).map_err(|e| anyhow::anyhow!("{e}"))?.to_stored();
    let now = Utc::now();
    let mut ids = Vec::new();
    for chunk in who.chunks(500) {
        let rows: Vec<member::ActiveModel> = chunk
            .iter()
            .map(|p| {
                let id = api::domain::new_id();
                ids.push(id.clone());
                member::ActiveModel {
                    id: Set(id),
                    org_id: Set(org.to_string()),
                    user_id: Set(p.user_id.clone()),
                    roles: Set(roles.clone()),
                    is_owner: Set(false),
                    status: Set(MemberStatus::Active),
                    created_at: Set(now),
                    removed_at: Set(None),
                    approval_notices: Set(true),
                }
            })
            .collect();
        member::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(ids)
}

/// An organisation ready for withdrawals.
pub struct Treasury {
    pub org: String,
    pub account: String,
    pub owner: Person,
    pub maker: Person,
    pub approver: Person,
    pub signer_member: String,
    pub usdc_address: String,
}

/// Creates an organisation (through GraphQL, as its owner), adds a maker, an
/// approver and a signer, credits 1,000,000 USDC and whitelists an address.
pub async fn treasury(client: &Client, db: &DatabaseConnection) -> anyhow::Result<Treasury> {
    let mut ps = people(db, &format!("t{}", &api::domain::new_id()[..8]), 4).await?.into_iter();
    let (owner, maker, approver, signer) = (
        ps.next().context("owner")?,
        ps.next().context("maker")?,
        ps.next().context("approver")?,
        ps.next().context("signer")?,
    );
    let d = client
        .ok(
            Some(&owner.token),
            "mutation{ createOrganization(name:\"Bench Treasury\"){ id accounts{ id } } }",
            json!({}),
        )
        .await?;
    let org = d["createOrganization"]["id"].as_str().context("org id")?.to_string();
    let account = d["createOrganization"]["accounts"][0]["id"].as_str().context("account id")?.to_string();
    join(db, &org, std::slice::from_ref(&maker), &[Role::Maker]).await?;
    join(db, &org, std::slice::from_ref(&approver), &[Role::Approver]).await?;
    let signer_member = join(db, &org, std::slice::from_ref(&signer), &[Role::Signer]).await?.remove(0);
    client
        .ok(
            Some(crate::server::OPERATOR),
            "mutation($a:ID!){ creditAccount(accountId:$a,asset:\"USDC\",amount:\"1000000\",reference:\"bench-credit\"){ id } }",
            json!({"a": account}),
        )
        .await?;
    let d = client
        .ok(
            Some(&owner.token),
            "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }",
            json!({"o": org, "i": {"accountId": account, "asset": "USDC", "network": "ethereum", "address": "0xBE0C400000000000000000000000000000000000", "label": "bench"}}),
        )
        .await?;
    anyhow::ensure!(d["addAddress"]["request"]["status"] == "COMPLETED", "address not added: {d}");
    let d = client
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ addresses{ id } } }", json!({"o": org}))
        .await?;
    let usdc_address = d["organization"]["addresses"][0]["id"].as_str().context("address id")?.to_string();
    Ok(Treasury { org, account, owner, maker, approver, signer_member, usdc_address })
}

/// Sets a risk-limit layer (the owner, no policy: applied at once).
pub async fn set_limits(client: &Client, t: &Treasury, input: Value) -> anyhow::Result<()> {
    let d = client
        .ok(
            Some(&t.owner.token),
            "mutation($o:ID!,$i:RiskLimitsPatch!){ setRiskLimits(orgId:$o,input:$i){ request{ status } } }",
            json!({"o": t.org, "i": input}),
        )
        .await?;
    anyhow::ensure!(d["setRiskLimits"]["request"]["status"] == "COMPLETED", "limits not set: {d}");
    Ok(())
}

/// Creates `n` service users with one API key each (scopes as given).
pub async fn api_keys(client: &Client, t: &Treasury, n: usize, scopes: Value) -> anyhow::Result<Vec<ApiKey>> {
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let d = client
            .ok(
                Some(&t.owner.token),
                "mutation($o:ID!,$i:ServiceUserInput!){ createServiceUser(orgId:$o,input:$i){ apiKey{ keyId secret } } }",
                json!({"o": t.org, "i": {"name": format!("bench-key-{i}"), "scopes": scopes}}),
            )
            .await?;
        let k = &d["createServiceUser"]["apiKey"];
        keys.push(ApiKey {
            id: k["keyId"].as_str().context("key id")?.to_string(),
            secret: k["secret"].as_str().context("secret")?.to_string(),
        });
    }
    Ok(keys)
}

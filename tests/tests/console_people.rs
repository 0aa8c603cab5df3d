//! The console journeys of the people who run a treasury (issue 18), each in
//! Debian's Chromium against the real server:
//! - the invitee, on both databases: from the invitation e-mail (delivered
//!   over SMTP) to a member who has enrolled two-factor, stored recovery
//!   codes and approved a withdrawal — without touching the API; recovery
//!   codes sign in once; used, revoked, expired and unknown links say so;
//! - the maker, approver, signer and a read-only member (SQLite): a
//!   withdrawal made from the form with the simulation's verdict, arriving
//!   live in the approver's queue, approved, another rejected with a reason,
//!   executed against the signer's cap, its settlement on the request page;
//!   and someone without an authenticator enrols from their account page.
//!
//! The scripts are `tests/browser/invitee.mjs` and `tests/browser/treasury.mjs`.

use serde_json::{Value, json};
use std::time::Duration;
use tests::smtp::{SmtpSink, decode_qp, invitation_token};
use tests::{Backend, Session, TestApp, both_backends, browser, spawn, spawn_with};

const ADD_ADDRESS: &str = "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ id status } } }";
const ADDRESSES: &str = "query($o:ID!){ organization(id:$o){ addresses{ id address coolingOff } } }";
const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";
const SET_POLICY: &str =
    "mutation($o:ID!,$w:Workflow!,$i:PolicyInput!){ setPolicy(orgId:$o,workflow:$w,input:$i){ request{ status } } }";
const SET_LIMITS: &str =
    "mutation($o:ID!,$i:RiskLimitsPatch!){ setRiskLimits(orgId:$o,input:$i){ request{ status } } }";
const REQUEST: &str = "query($r:ID!){ request(id:$r){ status reason approvals{ approver{ user{ email } } } withdrawal{ settlementReference } } }";
const WITHDRAWALS: &str = "query($o:ID!){ organization(id:$o){ requests(workflow:INITIATE_WITHDRAWAL){ nodes{ id status reason withdrawal{ amount settlementReference } } } } }";

/// Where the server's mail goes in a test: the outbox folder, or an SMTP sink.
enum Mailbox<'a> {
    Outbox,
    Smtp(&'a SmtpSink),
}

impl Mailbox<'_> {
    /// The newest invitation e-mail to `email`, decoded as a mail client shows it.
    async fn invitation(&self, app: &TestApp, email: &str) -> (String, String) {
        self.invitation_other_than(app, email, None).await
    }

    /// Like [`invitation`](Self::invitation), waiting for one whose token is not `seen`.
    async fn invitation_other_than(&self, app: &TestApp, email: &str, seen: Option<&str>) -> (String, String) {
        match self {
            Mailbox::Outbox => {
                let token = app.outbox_token(email).await;
                (token, String::new())
            }
            Mailbox::Smtp(sink) => {
                let what = format!("an invitation e-mail to {email} over SMTP");
                sink.until(&what, Duration::from_secs(30), |messages| {
                    messages
                        .iter()
                        .rev()
                        .find(|m| m.rcpt_to.iter().any(|r| r == email))
                        .and_then(|m| invitation_token(&m.data).map(|t| (t, decode_qp(&m.data))))
                        .filter(|(t, _)| Some(t.as_str()) != seen)
                })
                .await
            }
        }
    }
}

/// A named person, enrolled in two-factor.
async fn person(app: &TestApp, email: &str, name: &str) -> Session {
    let mut s = app.sign_up_as(email, name).await;
    app.enrol(&mut s).await;
    s
}

/// Invites `email` with `roles`; returns the token from the e-mail.
async fn invite(app: &TestApp, mail: &Mailbox<'_>, admin: &Session, org: &str, email: &str, roles: &[&str]) -> String {
    let r = app.invite(admin, org, email, roles).await;
    assert_eq!(r["status"], "COMPLETED", "{r}");
    mail.invitation(app, email).await.0
}

/// Adds a named member through the invitation e-mail, as people join; their
/// session and member id.
async fn join(
    app: &TestApp,
    mail: &Mailbox<'_>,
    admin: &Session,
    org: &str,
    (email, name): (&str, &str),
    roles: &[&str],
) -> (Session, String) {
    let token = invite(app, mail, admin, org, email, roles).await;
    let mut s = app.sign_up_as(email, name).await;
    let d =
        app.ok(Some(&s.token), "mutation($t:String!){ acceptInvitation(token:$t){ id } }", json!({"t": token})).await;
    app.enrol(&mut s).await;
    (s, d["acceptInvitation"]["id"].as_str().expect("member id").to_string())
}

/// Whitelists an address (the caller's request completes at once); its id.
async fn add_address(app: &TestApp, admin: &Session, org: &str, account: &str, address: &str, label: &str) -> String {
    let input =
        json!({"accountId": account, "asset": "USDC", "network": "ethereum", "address": address, "label": label});
    let d = app.ok(Some(&admin.token), ADD_ADDRESS, json!({"o": org, "i": input})).await;
    assert_eq!(d["addAddress"]["request"]["status"], "COMPLETED", "whitelisting {address}");
    let d = app.ok(Some(&admin.token), ADDRESSES, json!({"o": org})).await;
    let all = d["organization"]["addresses"].as_array().expect("addresses");
    all.iter().find(|a| a["address"] == address).expect("the new address")["id"].as_str().unwrap().to_string()
}

async fn set_policy(app: &TestApp, admin: &Session, org: &str, workflow: &str, input: Value) {
    let d = app.ok(Some(&admin.token), SET_POLICY, json!({"o": org, "w": workflow, "i": input})).await;
    assert_eq!(d["setPolicy"]["request"]["status"], "COMPLETED");
}

async fn set_limits(app: &TestApp, admin: &Session, org: &str, input: Value) {
    let d = app.ok(Some(&admin.token), SET_LIMITS, json!({"o": org, "i": input})).await;
    assert_eq!(d["setRiskLimits"]["request"]["status"], "COMPLETED");
}

/// A person who has only the invitation e-mail joins, enrols two-factor,
/// stores recovery codes and approves a withdrawal, all in the browser.
async fn invitee_joins_from_the_email_and_approves(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(backend, move |c| c.smtp_url = Some(url)).await;
    let mail = Mailbox::Smtp(&sink);
    let owner = person(&app, "olivia@acme.test", "Olivia Owner").await;
    let org = app.create_org(&owner, "Acme Treasury").await;

    // A link that expires: invitation links last seven days.
    let expired = invite(&app, &mail, &owner, &org, "late@acme.test", &["MAKER"]).await;
    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    let owner = Session { token: app.sign_in(&owner).await, ..owner };

    // A revoked link.
    let revoked = invite(&app, &mail, &owner, &org, "gone@acme.test", &["SIGNER"]).await;
    let d = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ invitations{ id email } } }", json!({"o": org}))
        .await;
    let id = d["organization"]["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "gone@acme.test")
        .unwrap()["id"]
        .clone();
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!,$i:ID!){ revokeInvitation(orgId:$o,invitationId:$i){ request{ status } } }",
        json!({"o": org, "i": id}),
    )
    .await;

    // The treasury: a maker's withdrawal waits for one approval.
    let (maker, _) = join(&app, &mail, &owner, &org, ("max@acme.test", "Max Maker"), &["MAKER"]).await;
    join(&app, &mail, &owner, &org, ("sam@acme.test", "Sam Signer"), &["SIGNER", "APPROVER"]).await;
    set_policy(
        &app,
        &owner,
        &org,
        "INITIATE_WITHDRAWAL",
        json!({"requiredApprovals": 1, "alwaysRequireApproval": true}),
    )
    .await;
    let account = app.first_account(&owner, &org).await;
    app.credit(&account, "USDC", "50000", "custody-1").await;
    let address =
        add_address(&app, &owner, &org, &account, "0xC01dBeef00000000000000000000000000000001", "Cold wallet").await;
    let input = json!({"accountId": account, "asset": "USDC", "amount": "1250.5", "addressId": address});
    let d = app.ok(Some(&maker.token), WITHDRAW, json!({"o": org, "i": input})).await;
    assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL");
    let withdrawal = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();

    // Ivy's invitation, as the mail server received it.
    app.invite(&owner, &org, "ivy@acme.test", &["APPROVER", "REVIEWER"]).await;
    let (token, message) = mail.invitation(&app, "ivy@acme.test").await;
    let link = format!("{}/invite/{token}", app.base);
    assert!(message.contains(&link), "the e-mail carries the link:\n{message}");
    // Two more organisations invite her; she opens those links once she has an account.
    let beta = app.create_org(&owner, "Beta Fund").await;
    app.invite(&owner, &beta, "ivy@acme.test", &["MAKER"]).await;
    let (second, _) = mail.invitation_other_than(&app, "ivy@acme.test", Some(&token)).await;
    let gamma = app.create_org(&owner, "Gamma Partners").await;
    app.invite(&owner, &gamma, "ivy@acme.test", &["READ_ONLY"]).await;
    let (third, _) = mail.invitation_other_than(&app, "ivy@acme.test", Some(&second)).await;

    let fixture = browser::fixture(
        &app,
        json!({
            "link": link,
            "invitee": {"email": "ivy@acme.test", "name": "Ivy Invitee", "password": "a long passphrase for ivy"},
            "inviter": {"name": "Olivia Owner", "email": "olivia@acme.test"},
            "organization": "Acme Treasury",
            "withdrawal": withdrawal,
            "secondLink": format!("{}/invite/{second}", app.base),
            "thirdLink": format!("{}/invite/{third}", app.base),
            "links": {
                "expired": format!("{}/invite/{expired}", app.base),
                "revoked": format!("{}/invite/{revoked}", app.base),
                "unknown": format!("{}/invite/{}", app.base, "x".repeat(43)),
            },
        }),
    );
    browser::run("invitee.mjs", fixture).await;

    // What the browser did, as the API sees it.
    let d = app.ok(Some(&owner.token), REQUEST, json!({"r": withdrawal})).await;
    assert_eq!(d["request"]["status"], "APPROVED", "{d}");
    assert_eq!(d["request"]["approvals"][0]["approver"]["user"]["email"], "ivy@acme.test");
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ members{ roles user{ email name twoFactorEnabled } } } }",
            json!({"o": org}),
        )
        .await;
    let ivy = d["organization"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "ivy@acme.test")
        .cloned();
    let ivy = ivy.expect("Ivy is a member");
    assert_eq!(ivy["roles"], json!(["APPROVER", "REVIEWER"]));
    assert_eq!(
        (ivy["user"]["name"].as_str(), ivy["user"]["twoFactorEnabled"].as_bool()),
        (Some("Ivy Invitee"), Some(true))
    );
    // She joined the other two with the account she had.
    for other in [beta, gamma] {
        let d = app
            .ok(
                Some(&owner.token),
                "query($o:ID!){ organization(id:$o){ members{ user{ email } } } }",
                json!({"o": other}),
            )
            .await;
        let members = d["organization"]["members"].as_array().unwrap().clone();
        assert!(members.iter().any(|m| m["user"]["email"] == "ivy@acme.test"), "{members:?}");
    }
}

/// Maker, approver, signer and a read-only member, each in their own browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn treasury_journey_in_chromium() {
    let app = spawn(Backend::Sqlite).await;
    let mail = Mailbox::Outbox;
    let owner = person(&app, "olivia@acme.test", "Olivia Owner").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let (maker, _) = join(&app, &mail, &owner, &org, ("max@acme.test", "Max Maker"), &["MAKER"]).await;
    let (approver, _) = join(&app, &mail, &owner, &org, ("ada@acme.test", "Ada Approver"), &["APPROVER"]).await;
    let (signer, signer_member) = join(&app, &mail, &owner, &org, ("sam@acme.test", "Sam Signer"), &["SIGNER"]).await;
    let (reader, _) = join(&app, &mail, &owner, &org, ("rita@acme.test", "Rita Reader"), &["READ_ONLY"]).await;

    // Above 1,000 USD a withdrawal waits for one approval; the organisation
    // allows 50,000 a withdrawal and 200,000 a day; Sam signs up to 10,000 a day.
    let threshold = json!({"requiredApprovals": 1, "alwaysRequireApproval": false, "approvalThresholdUsd": "1000"});
    set_policy(&app, &owner, &org, "INITIATE_WITHDRAWAL", threshold).await;
    set_limits(
        &app,
        &owner,
        &org,
        json!({"layer": "ORGANIZATION", "perTransactionMaxUsd": "50000", "dailyCapUsd": "200000"}),
    )
    .await;
    set_limits(&app, &owner, &org, json!({"layer": "SIGNER", "memberId": signer_member, "dailyCapUsd": "10000"})).await;
    let account = app.first_account(&owner, &org).await;
    app.credit(&account, "USDC", "250000", "custody-1").await;

    // One address usable now; one whitelisted after a day's cooling-off was set.
    let usable =
        add_address(&app, &owner, &org, &account, "0xC01dBeef00000000000000000000000000000001", "Cold wallet").await;
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ setAddressCoolingOff(orgId:$o,delay:\"P1D\"){ request{ status } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["setAddressCoolingOff"]["request"]["status"], "COMPLETED");
    let cooling =
        add_address(&app, &owner, &org, &account, "0xe8c4A0000000000000000000000000000000ABCD", "New exchange").await;

    // The maker asks for an address too, which waits: a non-withdrawal request in the queue.
    set_policy(&app, &owner, &org, "MANAGE_ADDRESSES", json!({"requiredApprovals": 1, "alwaysRequireApproval": true}))
        .await;
    let input = json!({"accountId": account, "asset": "USDC", "network": "ethereum", "address": "0x9A7011000000000000000000000000000000000A", "label": "Payroll"});
    let d = app.ok(Some(&maker.token), ADD_ADDRESS, json!({"o": org, "i": input})).await;
    assert_eq!(d["addAddress"]["request"]["status"], "PENDING_APPROVAL");
    let address_request = d["addAddress"]["request"]["id"].as_str().unwrap().to_string();

    // Someone with an account and no authenticator yet.
    let newcomer = app.sign_up_as("nora@acme.test", "Nora Newcomer").await;

    let fixture = browser::fixture(
        &app,
        json!({
            "users": {
                "newcomer": browser::credentials(&newcomer),
                "maker": browser::credentials(&maker),
                "approver": browser::credentials(&approver),
                "signer": browser::credentials(&signer),
                "reader": browser::credentials(&reader),
            },
            "usableAddress": usable,
            "coolingAddress": cooling,
            "addressRequest": address_request,
        }),
    );
    browser::run("treasury.mjs", fixture).await;

    // What the browser did, as the API sees it.
    let d = app.ok(Some(&owner.token), WITHDRAWALS, json!({"o": org})).await;
    let nodes = d["organization"]["requests"]["nodes"].as_array().unwrap().clone();
    let by_amount = |a: f64| {
        let amount = |n: &&Value| n["withdrawal"]["amount"].as_str().and_then(|s| s.parse::<f64>().ok());
        nodes.iter().find(|n| amount(n) == Some(a)).cloned().unwrap_or(Value::Null)
    };
    let paid = by_amount(2500.0);
    assert_eq!(paid["status"], "COMPLETED", "{nodes:?}");
    assert!(paid["withdrawal"]["settlementReference"].as_str().unwrap_or_default().starts_with("stl_"));
    let refused = by_amount(1500.0);
    assert_eq!(
        (refused["status"].as_str(), refused["reason"].as_str()),
        (Some("REJECTED"), Some("Duplicate of the first payout"))
    );
    let d = app.ok(Some(&owner.token), REQUEST, json!({"r": address_request})).await;
    assert_eq!(d["request"]["status"], "PENDING_APPROVAL", "the reader could not act on it");
}

both_backends!(invitee_joins_from_the_email_and_approves);

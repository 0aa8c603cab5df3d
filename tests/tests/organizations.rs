//! Organisations, the Owner, permissions, tenancy and the audit trail, end to end.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::{Backend, both_backends, spawn};

const ORG: &str = "query($o:ID!){ organization(id:$o){ id name accounts{ id name } members{ id isOwner roles status user{ email } grants{ workflow action accountId } } } }";
const PERMS: &str = "query($o:ID!){ viewer{ permissions(orgId:$o){ workflow action accountId } } }";
const GRANT: &str = "mutation($o:ID!,$m:ID!,$w:Workflow!,$a:Action!,$acc:ID){ grantPermission(orgId:$o,memberId:$m,workflow:$w,action:$a,accountId:$acc){ request{ id status operation workflow requester{ kind id } } } }";
const REVOKE: &str = "mutation($o:ID!,$m:ID!,$w:Workflow!,$a:Action!,$acc:ID){ revokePermission(orgId:$o,memberId:$m,workflow:$w,action:$a,accountId:$acc){ request{ id status } } }";
const AUDIT: &str = "query($o:ID!,$f:Int!,$after:String,$filter:AuditFilter){ organization(id:$o){ auditLog(first:$f,after:$after,filter:$filter){ edges{ cursor node{ seq action actorId requestId before after prevHash hash } } pageInfo{ hasNextPage endCursor } } } }";
const VERIFY: &str = "query($o:ID!){ organization(id:$o){ auditVerification{ valid records firstInvalidSeq } } }";

async fn owner_creates_an_organisation(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let d = app.ok(Some(&owner.token), ORG, json!({"o": org})).await;
    let o = &d["organization"];
    assert_eq!(o["name"], "Acme Treasury");
    assert_eq!(o["accounts"].as_array().unwrap().len(), 1, "a default account");
    assert_eq!(o["accounts"][0]["name"], "Main");
    assert_eq!(o["members"].as_array().unwrap().len(), 1);
    assert_eq!(o["members"][0]["isOwner"], true);
    assert_eq!(o["members"][0]["roles"], json!(["ADMIN"]));
    assert_eq!(o["members"][0]["user"]["email"], "owner@example.com");

    // The Owner holds every action on every workflow.
    let d = app.ok(Some(&owner.token), PERMS, json!({"o": org})).await;
    let perms = d["viewer"]["permissions"].as_array().unwrap();
    assert_eq!(perms.len(), 16);
    let d = app.ok(Some(&owner.token), "{ viewer { memberships { organizationId isOwner } } }", json!({})).await;
    assert_eq!(d["viewer"]["memberships"], json!([{"organizationId": org, "isOwner": true}]));

    // Bad names leave nothing behind.
    assert_eq!(
        app.err(Some(&owner.token), "mutation{ createOrganization(name:\"   \"){ id } }", json!({})).await,
        "BAD_INPUT"
    );
    assert_eq!(app.err(None, "mutation{ createOrganization(name:\"X\"){ id } }", json!({})).await, "UNAUTHENTICATED");
    let d = app.ok(Some(&owner.token), "{ viewer { memberships { id } } }", json!({})).await;
    assert_eq!(d["viewer"]["memberships"].as_array().unwrap().len(), 1);
}

async fn owner_is_protected_and_grants_are_additive(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let d = app.ok(Some(&owner.token), ORG, json!({"o": org})).await;
    let me = d["organization"]["members"][0]["id"].as_str().unwrap().to_string();
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();

    let code = app
        .err(
            Some(&owner.token),
            "mutation($o:ID!,$m:ID!){ removeMember(orgId:$o,memberId:$m){ request{ id } } }",
            json!({"o": org, "m": me}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");

    let d = app
        .ok(
            Some(&owner.token),
            GRANT,
            json!({"o": org, "m": me, "w": "INITIATE_WITHDRAWAL", "a": "INITIATE", "acc": account}),
        )
        .await;
    let req = &d["grantPermission"]["request"];
    assert_eq!(req["status"], "COMPLETED");
    assert_eq!(req["operation"], "GRANT_PERMISSION");
    assert_eq!(req["workflow"], "MANAGE_ACCESS");
    assert_eq!(req["requester"]["id"], owner.user_id.as_str());
    let d = app.ok(Some(&owner.token), ORG, json!({"o": org})).await;
    assert_eq!(
        d["organization"]["members"][0]["grants"],
        json!([{"workflow": "INITIATE_WITHDRAWAL", "action": "INITIATE", "accountId": account}])
    );
    // Granting the same again conflicts; a grant on an unknown account is NOT_FOUND.
    assert_eq!(
        app.err(
            Some(&owner.token),
            GRANT,
            json!({"o": org, "m": me, "w": "INITIATE_WITHDRAWAL", "a": "INITIATE", "acc": account})
        )
        .await,
        "CONFLICT"
    );
    assert_eq!(
        app.err(
            Some(&owner.token),
            GRANT,
            json!({"o": org, "m": me, "w": "INITIATE_WITHDRAWAL", "a": "INITIATE", "acc": "nope"})
        )
        .await,
        "NOT_FOUND"
    );
    app.ok(
        Some(&owner.token),
        REVOKE,
        json!({"o": org, "m": me, "w": "INITIATE_WITHDRAWAL", "a": "INITIATE", "acc": account}),
    )
    .await;
    assert_eq!(
        app.err(
            Some(&owner.token),
            REVOKE,
            json!({"o": org, "m": me, "w": "INITIATE_WITHDRAWAL", "a": "INITIATE", "acc": account})
        )
        .await,
        "NOT_FOUND"
    );
    let code = app
        .err(
            Some(&owner.token),
            "mutation($o:ID!,$m:ID!){ setMemberRoles(orgId:$o,memberId:$m,roles:[]){ request{ id } } }",
            json!({"o": org, "m": me}),
        )
        .await;
    assert_eq!(code, "BAD_INPUT");
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!,$m:ID!){ setMemberRoles(orgId:$o,memberId:$m,roles:[SIGNER,MAKER,SIGNER]){ request{ status } } }",
            json!({"o": org, "m": me}),
        )
        .await;
    assert_eq!(d["setMemberRoles"]["request"]["status"], "COMPLETED");
    let d = app.ok(Some(&owner.token), ORG, json!({"o": org})).await;
    assert_eq!(d["organization"]["members"][0]["roles"], json!(["MAKER", "SIGNER"]));
}

async fn other_organisations_are_not_found(backend: Backend) {
    let app = spawn(backend).await;
    let alice = app.user("alice@example.com").await;
    let mallory = app.user("mallory@example.com").await;
    let org_a = app.create_org(&alice, "Alice Co").await;
    let _org_m = app.create_org(&mallory, "Mallory Co").await;
    let d = app.ok(Some(&alice.token), ORG, json!({"o": org_a})).await;
    let alice_member = d["organization"]["members"][0]["id"].as_str().unwrap().to_string();
    let d = app
        .ok(
            Some(&alice.token),
            GRANT,
            json!({"o": org_a, "m": alice_member, "w": "MANAGE_POLICIES", "a": "VIEW", "acc": null}),
        )
        .await
        .clone();
    let request_id = d["grantPermission"]["request"]["id"].as_str().unwrap().to_string();

    let before = app.ok(Some(&alice.token), AUDIT, json!({"o": org_a, "f": 100})).await;
    let nf = |v: String| assert_eq!(v, "NOT_FOUND");
    nf(app.err(Some(&mallory.token), ORG, json!({"o": org_a})).await);
    nf(app.err(Some(&mallory.token), PERMS, json!({"o": org_a})).await);
    nf(app.err(Some(&mallory.token), "query($r:ID!){ request(id:$r){ id } }", json!({"r": request_id})).await);
    nf(app
        .err(
            Some(&mallory.token),
            GRANT,
            json!({"o": org_a, "m": alice_member, "w": "MANAGE_ACCESS", "a": "EXECUTE", "acc": null}),
        )
        .await);
    nf(app
        .err(
            Some(&mallory.token),
            REVOKE,
            json!({"o": org_a, "m": alice_member, "w": "MANAGE_POLICIES", "a": "VIEW", "acc": null}),
        )
        .await);
    nf(app
        .err(
            Some(&mallory.token),
            "mutation($o:ID!,$m:ID!){ setMemberRoles(orgId:$o,memberId:$m,roles:[READ_ONLY]){ request{ id } } }",
            json!({"o": org_a, "m": alice_member}),
        )
        .await);
    nf(app
        .err(
            Some(&mallory.token),
            "mutation($o:ID!,$m:ID!){ removeMember(orgId:$o,memberId:$m){ request{ id } } }",
            json!({"o": org_a, "m": alice_member}),
        )
        .await);
    // A member id of another organisation is not found inside one's own either.
    let org_m = app.ok(Some(&mallory.token), "{ viewer{ memberships{ organizationId } } }", json!({})).await["viewer"]
        ["memberships"][0]["organizationId"]
        .as_str()
        .unwrap()
        .to_string();
    nf(app
        .err(
            Some(&mallory.token),
            "mutation($o:ID!,$m:ID!){ setMemberRoles(orgId:$o,memberId:$m,roles:[READ_ONLY]){ request{ id } } }",
            json!({"o": org_m, "m": alice_member}),
        )
        .await);
    // Anonymous callers are told to sign in.
    assert_eq!(app.err(None, ORG, json!({"o": org_a})).await, "UNAUTHENTICATED");
    // Nothing changed in Alice's organisation.
    let after = app.ok(Some(&alice.token), AUDIT, json!({"o": org_a, "f": 100})).await;
    assert_eq!(before, after);
    let d = app.ok(Some(&alice.token), ORG, json!({"o": org_a})).await;
    assert_eq!(d["organization"]["members"][0]["roles"], json!(["ADMIN"]));
}

fn edges(d: &Value) -> Vec<Value> {
    d["organization"]["auditLog"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

async fn audit_trail_is_chained_paginated_and_exported(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let d = app.ok(Some(&owner.token), ORG, json!({"o": org})).await;
    let me = d["organization"]["members"][0]["id"].as_str().unwrap().to_string();
    for wf in ["MANAGE_POLICIES", "MANAGE_ADDRESSES"] {
        app.ok(Some(&owner.token), GRANT, json!({"o": org, "m": me, "w": wf, "a": "VIEW", "acc": null})).await;
    }
    app.ok(Some(&owner.token), REVOKE, json!({"o": org, "m": me, "w": "MANAGE_POLICIES", "a": "VIEW", "acc": null}))
        .await;

    // Newest first, two per page, cursors chain through.
    let p1 = app.ok(Some(&owner.token), AUDIT, json!({"o": org, "f": 2})).await;
    let n1 = edges(&p1);
    assert_eq!(n1.iter().map(|n| n["seq"].as_i64().unwrap()).collect::<Vec<_>>(), vec![4, 3]);
    assert_eq!(n1[0]["action"], "REVOKE_PERMISSION");
    assert_eq!(n1[0]["actorId"], owner.user_id.as_str());
    assert!(n1[0]["requestId"].is_string());
    assert!(n1[0]["before"].as_str().unwrap().contains("MANAGE_POLICIES"));
    assert_eq!(p1["organization"]["auditLog"]["pageInfo"]["hasNextPage"], true);
    let cursor = p1["organization"]["auditLog"]["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let p2 = app.ok(Some(&owner.token), AUDIT, json!({"o": org, "f": 2, "after": cursor})).await;
    let n2 = edges(&p2);
    assert_eq!(n2.iter().map(|n| n["seq"].as_i64().unwrap()).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(n2[1]["action"], "ORGANIZATION_CREATED");
    assert_eq!(p2["organization"]["auditLog"]["pageInfo"]["hasNextPage"], false);
    // Each record carries the previous one's hash.
    assert_eq!(n1[0]["prevHash"], n1[1]["hash"]);
    assert_eq!(n1[1]["prevHash"], n2[0]["hash"]);
    assert_eq!(n2[1]["prevHash"], "0".repeat(64));
    // Filters.
    let f =
        app.ok(Some(&owner.token), AUDIT, json!({"o": org, "f": 10, "filter": {"action": "GRANT_PERMISSION"}})).await;
    assert_eq!(edges(&f).len(), 2);

    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    assert_eq!(d["organization"]["auditVerification"], json!({"valid": true, "records": 4, "firstInvalidSeq": null}));

    let d = app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ auditLogCsv } }", json!({"o": org})).await;
    let csv = d["organization"]["auditLogCsv"].as_str().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "seq,at,actor_name,actor_kind,actor_id,action,target,request_id,before,after,prev_hash,hash,mac,org_id,checkpoint_at,checkpoint_signature"
    );
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with("1,") && lines[1].contains("ORGANIZATION_CREATED"));
    assert!(lines[4].starts_with("4,") && lines[4].contains("REVOKE_PERMISSION"));

    // Tampering with a stored record shows.
    let db = app.db().await;
    db.execute_unprepared(&format!(
        "UPDATE audit_records SET action = 'NOTHING_TO_SEE' WHERE org_id = '{org}' AND seq = 2"
    ))
    .await
    .unwrap();
    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    assert_eq!(d["organization"]["auditVerification"]["valid"], false);
    assert_eq!(d["organization"]["auditVerification"]["firstInvalidSeq"], 2);
}

async fn audit_chain_holds_under_concurrency(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let d = app.ok(Some(&owner.token), ORG, json!({"o": org})).await;
    let me = d["organization"]["members"][0]["id"].as_str().unwrap().to_string();
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    // 16 different grants fired at once: all apply, each audited, chain linear.
    let mut tasks = Vec::new();
    for wf in ["INITIATE_WITHDRAWAL", "MANAGE_ADDRESSES", "MANAGE_ACCESS", "MANAGE_POLICIES"] {
        for a in ["VIEW", "INITIATE", "APPROVE", "EXECUTE"] {
            let (app_base, token, org, me, account) =
                (app.base.clone(), owner.token.clone(), org.clone(), me.clone(), account.clone());
            let client = app.client.clone();
            tasks.push(tokio::spawn(async move {
                let body: Value = client
                    .post(format!("{app_base}/graphql"))
                    .bearer_auth(token)
                    .json(&json!({"query": GRANT, "variables": {"o": org, "m": me, "w": wf, "a": a, "acc": account}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                body
            }));
        }
    }
    for t in tasks {
        let body = t.await.unwrap();
        assert!(body.get("errors").is_none(), "{body:#}");
    }
    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    assert_eq!(d["organization"]["auditVerification"], json!({"valid": true, "records": 17, "firstInvalidSeq": null}));
}

both_backends!(
    owner_creates_an_organisation,
    owner_is_protected_and_grants_are_additive,
    other_organisations_are_not_found,
    audit_trail_is_chained_paginated_and_exported,
    audit_chain_holds_under_concurrency,
);

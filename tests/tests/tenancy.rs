//! Tenancy: every organisation-scoped mutation and query of the schema,
//! discovered by introspection, called by a member of another organisation,
//! by a service user of another organisation, and by the organisation's own
//! service user holding no scope that gates anything, is refused (NOT_FOUND or FORBIDDEN) and
//! changes nothing. A new resolver that forgets to ask `authz` fails here.

use serde_json::{Map, Value, json};
use tests::{Backend, TestApp, base_type as base, both_backends, spawn};

/// Mutations that act on the caller themself, not on an organisation.
const PERSONAL: &[&str] = &[
    "signUp",
    "signIn",
    "signOut",
    "enrollTotp",
    "confirmTotp",
    "generateRecoveryCodes",
    "createOrganization",
    "acceptInvitation",
];

/// Root queries that take no organisation: they answer about the caller or
/// the public asset and network lists, or an invitation link's own preview (its token is
/// the capability). Any other root query must refuse outsiders.
const UNSCOPED_QUERIES: &[&str] = &["viewer", "assets", "networks", "invitationPreview"];

const INTROSPECT: &str = "{ __schema { mutationType { fields { name args { name type { ...T } } } }
  queryType { fields { name args { name type { ...T } } } }
  types { name kind inputFields { name type { ...T } } enumValues { name } } } }
  fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// A well-formed value for an argument, using the victim organisation's real ids.
fn value(name: &str, ty: &Value, types: &[Value], ids: &Map<String, Value>) -> Value {
    let (kind, tname, list) = base(ty);
    let v = match kind.as_str() {
        "ENUM" => {
            let t = types.iter().find(|t| t["name"] == tname.as_str()).unwrap();
            t["enumValues"][0]["name"].clone()
        }
        "INPUT_OBJECT" => {
            let t = types.iter().find(|t| t["name"] == tname.as_str()).unwrap();
            let mut o = Map::new();
            for f in t["inputFields"].as_array().unwrap() {
                let fname = f["name"].as_str().unwrap();
                o.insert(fname.to_string(), value(fname, &f["type"], types, ids));
            }
            Value::Object(o)
        }
        _ => match tname.as_str() {
            "ID" => ids.get(name).cloned().unwrap_or_else(|| json!("00000000-0000-0000-0000-000000000000")),
            "String" if name == "email" => json!("victim-target@example.com"),
            "String" if name == "asset" => json!("USDC"),
            "String" if name.ends_with("Id") => ids.get(name).cloned().unwrap_or(json!("x")),
            "String" => json!("x"),
            "Decimal" => json!("1"),
            "Int" => json!(1),
            "Boolean" => json!(false),
            "DateTime" => json!("2030-01-01T00:00:00Z"),
            "Duration" => json!("PT1H"),
            "JSON" => json!({"operation": "SET_LOW_BALANCE_PAUSE", "enabled": true}),
            other => panic!("no sample value for scalar {other}"),
        },
    };
    if list { json!([v]) } else { v }
}

async fn audit_len(app: &TestApp, token: &str, org: &str) -> usize {
    let d = app.ok(Some(token), "query($o:ID!){ organization(id:$o){ auditLog(first:500){ edges{ cursor } } requests(first:200){ edges{ cursor } } } }", json!({"o": org})).await;
    d["organization"]["auditLog"]["edges"].as_array().unwrap().len() * 1000
        + d["organization"]["requests"]["edges"].as_array().unwrap().len()
}

async fn other_organisations_can_reach_nothing(backend: Backend) {
    let app = spawn(backend).await;
    // The victim: an organisation with one of everything.
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Victim").await;
    let (_, member) = app.add_member(&owner, &org, "member@example.com", &["MAKER"]).await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].clone();
    let d = app
        .ok(Some(&owner.token), "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"bot\",scopes:[QUERY_FUNDS]}){ request{ id } apiKey{ keyId } } }", json!({"o": org}))
        .await;
    let request = d["createServiceUser"]["request"]["id"].clone();
    let key = d["createServiceUser"]["apiKey"]["keyId"].clone();
    let su = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ serviceUsers{ id } } }", json!({"o": org}))
        .await["organization"]["serviceUsers"][0]["id"]
        .clone();
    app.ok(Some(&owner.token), "mutation($o:ID!,$a:ID!){ addAddress(orgId:$o,input:{accountId:$a,asset:\"USDC\",network:\"ethereum\",address:\"0x000000000000000000000000000000000000dEaD\",label:\"v\"}){ request{ id } } }", json!({"o": org, "a": account})).await;
    let address = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ addresses{ id } } }", json!({"o": org}))
        .await["organization"]["addresses"][0]["id"]
        .clone();
    app.invite(&owner, &org, "pending@example.com", &["APPROVER"]).await;
    let invitation = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ invitations{ id email } } }", json!({"o": org}))
        .await["organization"]["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "pending@example.com")
        .unwrap()["id"]
        .clone();
    let ids: Map<String, Value> = [
        ("orgId", json!(org)),
        ("id", json!(org)),
        ("accountId", account),
        ("memberId", json!(member)),
        ("requestId", request),
        ("keyId", key.clone()),
        ("apiKeyId", key),
        ("serviceUserId", su),
        ("addressId", address),
        ("invitationId", invitation),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    // The attackers: a member of another organisation, and that organisation's
    // service user holding a scope that gates nothing.
    let mallory = app.user("mallory@example.com").await;
    let other = app.create_org(&mallory, "Other").await;
    let d = app
        .ok(Some(&mallory.token), "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"m\",scopes:[EARN]}){ apiKey{ keyId secret } } }", json!({"o": other}))
        .await;
    let mkey = (
        d["createServiceUser"]["apiKey"]["keyId"].as_str().unwrap().to_string(),
        d["createServiceUser"]["apiKey"]["secret"].as_str().unwrap().to_string(),
    );
    // And an insider with nothing to use: the victim's own service user whose
    // only scope (EARN) gates no resolver (a key needs at least one scope).
    let d = app
        .ok(Some(&owner.token), "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"idle\",scopes:[EARN]}){ apiKey{ keyId secret } } }", json!({"o": org}))
        .await;
    let ghost = (
        d["createServiceUser"]["apiKey"]["keyId"].as_str().unwrap().to_string(),
        d["createServiceUser"]["apiKey"]["secret"].as_str().unwrap().to_string(),
    );
    let before = audit_len(&app, &owner.token, &org).await;

    let schema = app.ok(None, INTROSPECT, json!({})).await;
    let types = schema["__schema"]["types"].as_array().unwrap().clone();
    let mut nonce = 0u64;
    let mut checked = 0;
    for f in schema["__schema"]["mutationType"]["fields"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        if PERSONAL.contains(&name) {
            continue;
        }
        let args = f["args"].as_array().unwrap();
        let decls: Vec<String> =
            args.iter().map(|a| format!("${}: {}", a["name"].as_str().unwrap(), type_ref(&a["type"]))).collect();
        let uses: Vec<String> = args.iter().map(|a| format!("{0}: ${0}", a["name"].as_str().unwrap())).collect();
        let vars: Map<String, Value> = args
            .iter()
            .map(|a| {
                let n = a["name"].as_str().unwrap();
                (n.to_string(), value(n, &a["type"], &types, &ids))
            })
            .collect();
        let q = format!("mutation({}) {{ {}({}) {{ __typename }} }}", decls.join(", "), name, uses.join(", "));
        let body = app.gql(Some(&mallory.token), &q, Value::Object(vars.clone())).await;
        let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_string();
        assert!(["NOT_FOUND", "FORBIDDEN"].contains(&code.as_str()), "{name} as another organisation's member: {body}");
        nonce += 1;
        let (_, body) = app.signed(&mkey, nonce, &q, Value::Object(vars.clone())).await;
        let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_string();
        assert!(
            ["NOT_FOUND", "FORBIDDEN"].contains(&code.as_str()),
            "{name} as another organisation's service user: {body}"
        );
        let (_, body) = app.signed(&ghost, nonce, &q, Value::Object(vars)).await;
        let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_string();
        assert!(["NOT_FOUND", "FORBIDDEN"].contains(&code.as_str()), "{name} as a service user without scopes: {body}");
        checked += 1;
    }
    assert!(checked >= 25, "walked {checked} mutations");
    // Every root query that takes arguments, with the victim's ids; the
    // viewer's per-organisation permissions too.
    let mut queries =
        vec![("query($orgId:ID!){ viewer{ permissions(orgId:$orgId){ action } } }".to_string(), json!({"orgId": org}))];
    for f in schema["__schema"]["queryType"]["fields"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let args = f["args"].as_array().unwrap();
        if args.is_empty() {
            assert!(UNSCOPED_QUERIES.contains(&name), "root query {name} takes no organisation: classify it");
            continue;
        }
        let decls: Vec<String> =
            args.iter().map(|a| format!("${}: {}", a["name"].as_str().unwrap(), type_ref(&a["type"]))).collect();
        let uses: Vec<String> = args.iter().map(|a| format!("{0}: ${0}", a["name"].as_str().unwrap())).collect();
        let mut vars: Map<String, Value> = args
            .iter()
            .map(|a| {
                let n = a["name"].as_str().unwrap();
                (n.to_string(), value(n, &a["type"], &types, &ids))
            })
            .collect();
        // `id` means the organisation for `organization`, the request for `request`.
        if name == "request" {
            vars.insert("id".into(), ids["requestId"].clone());
        }
        let q = format!("query({}) {{ {}({}) {{ __typename }} }}", decls.join(", "), name, uses.join(", "));
        queries.push((q, Value::Object(vars)));
    }
    assert!(queries.len() >= 5, "{queries:?}");
    for (q, vars) in &queries {
        assert_eq!(app.err(Some(&mallory.token), q, vars.clone()).await, "NOT_FOUND", "{q}");
        nonce += 1;
        let (_, body) = app.signed(&mkey, nonce, q, vars.clone()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{q}: {body}");
    }
    assert_eq!(audit_len(&app, &owner.token, &org).await, before, "nothing changed in the victim organisation");
}

fn type_ref(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or("").to_string(),
    }
}

both_backends!(other_organisations_can_reach_nothing);

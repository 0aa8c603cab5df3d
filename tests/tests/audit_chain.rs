//! The audit chain against someone who can write the database: a record edited
//! with every later SHA-256 hash and the organisation's head recomputed, as
//! the old plain-SHA-256 chain allowed, is named by the server's verification
//! (the keyed MAC no longer matches); an export verifies offline with the real
//! `countersign audit verify` and the deployment's public key, and fails,
//! naming the record, once a field is changed or with another key.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::process::{Command, Output};
use tests::{Backend, TestApp, both_backends, countersign_exe, spawn};

const VERIFY: &str =
    "query($o:ID!){ organization(id:$o){ auditVerification{ valid records firstInvalidSeq checkpoints } } }";
const NOTICES: &str = "mutation($o:ID!,$e:Boolean!){ setApprovalNotices(orgId:$o, enabled:$e){ id } }";
const CSV: &str = "query($o:ID!){ organization(id:$o){ auditLogCsv } }";
const JSON: &str = "query($o:ID!){ organization(id:$o){ auditLogJson } }";

/// Runs the real binary with `args`, configured as the test server is.
fn countersign(app: &TestApp, args: &[&str]) -> Output {
    Command::new(countersign_exe!())
        .args(args)
        .env_remove("COUNTERSIGN_CONFIG")
        .envs(tests::process::environment(&app.worker_config))
        .output()
        .expect("run countersign")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `countersign audit verify FILE --public-key KEY`: (succeeded, stdout + stderr).
fn verify_file(app: &TestApp, contents: &str, key: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export");
    std::fs::write(&path, contents).unwrap();
    let out = countersign(app, &["audit", "verify", path.to_str().unwrap(), "--public-key", key]);
    (out.status.success(), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// The old scheme exactly: SHA-256 over the previous hash and each field,
/// length-prefixed, in the stored order. Written here independently of the
/// server's code; the test first checks it reproduces the stored hashes.
fn old_hash(prev: &str, org: &str, row: &Row) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    let seq = row.seq.to_string();
    for f in [
        org,
        &seq,
        &row.actor_kind,
        &row.actor_id,
        &row.action,
        &row.target,
        &row.before,
        &row.after,
        &row.request_id,
        &row.at,
    ] {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

struct Row {
    seq: i64,
    actor_kind: String,
    actor_id: String,
    action: String,
    target: String,
    before: String,
    after: String,
    request_id: String,
    at: String,
    prev_hash: String,
    hash: String,
}

/// The organisation's records as the JSON export shows them (the same values
/// the database holds, `at` as hashed).
fn rows(export: &Value) -> Vec<Row> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    export["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Row {
            seq: r["seq"].as_i64().unwrap(),
            actor_kind: s(&r["actor_kind"]),
            actor_id: s(&r["actor_id"]),
            action: s(&r["action"]),
            target: s(&r["target"]),
            before: s(&r["before"]),
            after: s(&r["after"]),
            request_id: s(&r["request_id"]),
            at: s(&r["at"]),
            prev_hash: s(&r["prev_hash"]),
            hash: s(&r["hash"]),
        })
        .collect()
}

async fn export_json(app: &TestApp, token: &str, org: &str) -> String {
    let d = app.ok(Some(token), JSON, json!({"o": org})).await;
    d["organization"]["auditLogJson"].as_str().unwrap().to_string()
}

async fn database_rewrite_is_caught_and_exports_verify_offline(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    // Enough records to cross the first stored checkpoint (every 100).
    for i in 0..104 {
        app.ok(Some(&owner.token), NOTICES, json!({"o": org, "e": i % 2 == 1})).await;
    }
    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    let v = &d["organization"]["auditVerification"];
    let total = v["records"].as_i64().unwrap();
    assert!(total > 100, "{v}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["checkpoints"], 1, "one stored checkpoint at the first crossing of 100");

    // The verification key, from the real binary with the server's configuration.
    let out = countersign(&app, &["audit", "public-key"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_string();
    assert_eq!(key.len(), 64);
    assert_eq!(key, api::service::audit::public_key_hex(&app.state.key));

    // Exports verify offline, JSON and CSV.
    let json_export = export_json(&app, &owner.token, &org).await;
    let parsed: Value = serde_json::from_str(&json_export).unwrap();
    assert_eq!(parsed["records"].as_array().unwrap().len() as i64, total);
    let checkpoints = parsed["checkpoints"].as_array().unwrap();
    assert_eq!(checkpoints.len(), 2, "the stored one and the export's own: {checkpoints:?}");
    assert_eq!(checkpoints[1]["seq"].as_i64(), Some(total));
    let (ok, said) = verify_file(&app, &json_export, &key);
    assert!(ok, "{said}");
    assert!(said.contains(&format!("records 1 to {total}")), "{said}");
    let d = app.ok(Some(&owner.token), CSV, json!({"o": org})).await;
    let csv_export = d["organization"]["auditLogCsv"].as_str().unwrap().to_string();
    let (ok, said) = verify_file(&app, &csv_export, &key);
    assert!(ok, "{said}");

    // One field changed in the file: named.
    let mut tampered = parsed.clone();
    tampered["records"][2]["action"] = json!("NOTHING_TO_SEE");
    let (ok, said) = verify_file(&app, &tampered.to_string(), &key);
    assert!(!ok, "{said}");
    assert!(said.contains("record seq 3:"), "{said}");
    let mut lines: Vec<String> = csv_export.lines().map(str::to_string).collect();
    assert!(lines[5].starts_with("5,") && lines[5].contains("APPROVAL_NOTICES_SET"), "{}", lines[5]);
    lines[5] = lines[5].replacen("APPROVAL_NOTICES_SET", "APPROVAL_NOTICES_SEX", 1);
    let (ok, said) = verify_file(&app, &(lines.join("\n") + "\n"), &key);
    assert!(!ok, "{said}");
    assert!(said.contains("record seq 5:"), "{said}");
    // A record dropped from the file: the gap is named.
    let mut dropped = parsed.clone();
    dropped["records"].as_array_mut().unwrap().remove(6);
    let (ok, said) = verify_file(&app, &dropped.to_string(), &key);
    assert!(!ok && said.contains("record seq 8:"), "{said}");
    // Another deployment's key, or none that parses: refused.
    let other = api::service::audit::public_key_hex(&api::keys::MasterKey::from_hex(&"43".repeat(32)).unwrap());
    let (ok, said) = verify_file(&app, &json_export, &other);
    assert!(!ok, "{said}");
    assert!(said.contains("record seq 1:") && said.contains("signature does not verify"), "{said}");
    let (ok, said) = verify_file(&app, &json_export, "not-a-key");
    assert!(!ok, "{said}");

    // The attack: edit record 2, recompute every later SHA-256 hash and the
    // head exactly as the old chain did, straight in the database.
    let rows = rows(&parsed);
    let mut prev = "0".repeat(64);
    for r in &rows {
        assert_eq!(r.prev_hash, prev);
        assert_eq!(old_hash(&prev, &org, r), r.hash, "the test's old scheme is the server's SHA-256 chain");
        prev = r.hash.clone();
    }
    let db = app.db().await;
    let backend_db = db.get_database_backend();
    let mut prev = rows[0].hash.clone();
    for r in &rows[1..] {
        let mut r = Row { prev_hash: prev.clone(), ..clone_row(r) };
        if r.seq == 2 {
            r.action = "NOTHING_TO_SEE".into();
        }
        r.hash = old_hash(&prev, &org, &r);
        db.execute_raw(Statement::from_sql_and_values(
            backend_db,
            sql(
                backend_db,
                "UPDATE audit_records SET action = ?, prev_hash = ?, hash = ? WHERE org_id = ? AND seq = ?",
            ),
            [
                r.action.clone().into(),
                r.prev_hash.clone().into(),
                r.hash.clone().into(),
                org.clone().into(),
                r.seq.into(),
            ],
        ))
        .await
        .unwrap();
        prev = r.hash;
    }
    db.execute_raw(Statement::from_sql_and_values(
        backend_db,
        sql(backend_db, "UPDATE organizations SET audit_head = ? WHERE id = ?"),
        [prev.clone().into(), org.clone().into()],
    ))
    .await
    .unwrap();
    // The re-forged SHA-256 chain is consistent (the old verification passed it)…
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:3){ edges{ node{ seq action prevHash hash } } } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["organization"]["auditLog"]["edges"][0]["node"]["hash"], json!(prev));
    // …but the keyed chain names the edited record.
    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    let v = &d["organization"]["auditVerification"];
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["firstInvalidSeq"], 2, "{v}");
    assert_eq!(v["records"], 1, "{v}");
    // And the server no longer signs the trail: an export now fails offline.
    let forged = export_json(&app, &owner.token, &org).await;
    let forged_parsed: Value = serde_json::from_str(&forged).unwrap();
    assert_eq!(forged_parsed["records"][1]["action"], "NOTHING_TO_SEE");
    let (ok, said) = verify_file(&app, &forged, &key);
    assert!(!ok, "{said}");
    assert!(said.contains("not covered by a valid signed checkpoint"), "{said}");
    // Appending past the next multiple of 100 signs nothing over the forgery.
    for i in 0..100 {
        app.ok(Some(&owner.token), NOTICES, json!({"o": org, "e": i % 2 == 0})).await;
    }
    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    assert_eq!(d["organization"]["auditVerification"]["firstInvalidSeq"], 2);
    let (ok, said) = verify_file(&app, &export_json(&app, &owner.token, &org).await, &key);
    assert!(!ok, "{said}");
}

/// Truncating the newest records (and moving the head back) while a stored
/// checkpoint vouches for them is named too.
async fn truncation_behind_a_checkpoint_is_caught(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    for i in 0..100 {
        app.ok(Some(&owner.token), NOTICES, json!({"o": org, "e": i % 2 == 1})).await;
    }
    let parsed: Value = serde_json::from_str(&export_json(&app, &owner.token, &org).await).unwrap();
    let records = parsed["records"].as_array().unwrap();
    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    assert_eq!(d["organization"]["auditVerification"]["checkpoints"], 1);
    let cut = 90_i64;
    let head = &records[(cut - 1) as usize];
    let db = app.db().await;
    let b = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        b,
        sql(b, "DELETE FROM audit_records WHERE org_id = ? AND seq > ?"),
        [org.clone().into(), cut.into()],
    ))
    .await
    .unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        b,
        sql(b, "UPDATE organizations SET audit_seq = ?, audit_head = ?, audit_head_mac = ? WHERE id = ?"),
        [cut.into(), head["hash"].as_str().unwrap().into(), head["mac"].as_str().unwrap().into(), org.clone().into()],
    ))
    .await
    .unwrap();
    let d = app.ok(Some(&owner.token), VERIFY, json!({"o": org})).await;
    let v = &d["organization"]["auditVerification"];
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["firstInvalidSeq"], cut + 1, "{v}");
}

/// The upgrade: records written by the plain SHA-256 chain are sealed by the
/// process that applies the keyed chain's migration (the real `countersign
/// migrate`), up to the first that no longer verifies; a later run seals
/// nothing, so a record stripped of its MAC afterwards stays refused.
async fn upgrade_seals_the_old_chain_once(backend: Backend) {
    use migration::MigratorTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display()),
        Backend::Postgres => tests::fresh_postgres_database().await,
    };
    let db = sea_orm::Database::connect(&url).await.unwrap();
    migration::Migrator::up(&db, Some(9)).await.unwrap();
    let b = db.get_database_backend();
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
    // Two organisations with three records each, chained the old way; B's
    // second record was edited before the upgrade (its hash no longer matches).
    let mut heads = Vec::new();
    for (org, edited) in [("org-a", None), ("org-b", Some(2))] {
        let mut prev = "0".repeat(64);
        for seq in 1..=3_i64 {
            let at = t0 + chrono::Duration::seconds(seq);
            let row = Row {
                seq,
                actor_kind: "USER".into(),
                actor_id: "u1".into(),
                action: "SOMETHING".into(),
                target: String::new(),
                before: String::new(),
                after: format!("{{\"n\":{seq}}}"),
                request_id: String::new(),
                at: api::service::audit::at_text(at),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            let hash = old_hash(&prev, org, &row);
            let action = if edited == Some(seq) { "EDITED" } else { "SOMETHING" };
            db.execute_raw(Statement::from_sql_and_values(
                b,
                sql(b, "INSERT INTO audit_records (org_id, seq, actor_kind, actor_id, action, after, at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                [org.into(), seq.into(), "USER".into(), "u1".into(), action.into(), row.after.clone().into(), at.into(), prev.clone().into(), hash.clone().into()],
            ))
            .await
            .unwrap();
            prev = hash;
        }
        db.execute_raw(Statement::from_sql_and_values(
            b,
            sql(b, "INSERT INTO organizations (id, name, owner_user_id, session_idle_timeout_secs, audit_seq, audit_head, created_at, pause_on_low_balance) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
            [org.into(), org.into(), "u1".into(), 3600.into(), 3_i64.into(), prev.clone().into(), t0.into(), false.into()],
        ))
        .await
        .unwrap();
        heads.push(prev);
    }
    let config = api::Config { database_url: url.clone(), master_key: Some("42".repeat(32)), ..api::Config::default() };
    let migrate = || {
        let out = Command::new(countersign_exe!())
            .arg("migrate")
            .env_remove("COUNTERSIGN_CONFIG")
            .envs(tests::process::environment(&config))
            .output()
            .expect("run countersign migrate");
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    migrate();

    let key = api::keys::MasterKey::from_hex(&"42".repeat(32)).unwrap().audit_mac_key();
    let link = |prev_mac: &str, hash: &str| {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(format!("countersign audit chain v2\n{prev_mac}\n{hash}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let stored = |org: &'static str| {
        let db = &db;
        async move {
            db.query_all_raw(Statement::from_sql_and_values(
                b,
                sql(b, "SELECT seq, hash, mac FROM audit_records WHERE org_id = ? ORDER BY seq"),
                [org.into()],
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get::<String>("", "hash").unwrap(), r.try_get::<String>("", "mac").unwrap()))
            .collect::<Vec<_>>()
        }
    };
    let head_mac = |org: &'static str| {
        let db = &db;
        async move {
            db.query_one_raw(Statement::from_sql_and_values(
                b,
                sql(b, "SELECT audit_head_mac FROM organizations WHERE id = ?"),
                [org.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "audit_head_mac")
            .unwrap()
        }
    };
    // A: every record sealed, in one keyed chain, and the head with it.
    let a = stored("org-a").await;
    let mut prev_mac = "0".repeat(64);
    for (hash, mac) in &a {
        assert_eq!(*mac, link(&prev_mac, hash));
        prev_mac = mac.clone();
    }
    assert_eq!(head_mac("org-a").await, prev_mac);
    // B: sealed before the edited record only; the rest stays refused.
    let bb = stored("org-b").await;
    assert_eq!(bb[0].1, link(&"0".repeat(64), &bb[0].0));
    assert_eq!((bb[1].1.as_str(), bb[2].1.as_str()), ("", ""));
    assert_eq!(head_mac("org-b").await, "");

    // Later: someone strips the MAC of A's last record; migrating
    // (or starting) again does not seal it.
    db.execute_raw(Statement::from_sql_and_values(
        b,
        sql(b, "UPDATE audit_records SET mac = '' WHERE org_id = ? AND seq = 3"),
        ["org-a".into()],
    ))
    .await
    .unwrap();
    migrate();
    assert_eq!(stored("org-a").await[2].1, "", "the upgrade ran once, with its migration");
}

fn clone_row(r: &Row) -> Row {
    Row {
        seq: r.seq,
        actor_kind: r.actor_kind.clone(),
        actor_id: r.actor_id.clone(),
        action: r.action.clone(),
        target: r.target.clone(),
        before: r.before.clone(),
        after: r.after.clone(),
        request_id: r.request_id.clone(),
        at: r.at.clone(),
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
    }
}

/// `?` placeholders as the backend spells them.
fn sql(backend: sea_orm::DbBackend, text: &str) -> String {
    if backend != sea_orm::DbBackend::Postgres {
        return text.to_string();
    }
    let mut out = String::new();
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

both_backends!(
    database_rewrite_is_caught_and_exports_verify_offline,
    truncation_behind_a_checkpoint_is_caught,
    upgrade_seals_the_old_chain_once
);

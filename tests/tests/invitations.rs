//! Invitations by e-mail and the job workers, end to end: outbox and real
//! SMTP over loopback, retries, restarts, several workers, roles on joining.

use serde_json::{Value, json};
use std::time::Duration;
use tests::smtp::{SmtpSink, closed_port, invitation_token};
use tests::{Backend, both_backends, spawn, spawn_with};

const INVITATIONS: &str = "query($o:ID!){ organization(id:$o){ invitations{ id email roles status deliveryStatus deliveryAttempts lastError sentAt invitedBy{ email } } } }";
const ACCEPT: &str = "mutation($t:String!){ acceptInvitation(token:$t){ id roles status isOwner user{ email } } }";
const PERMS: &str = "query($o:ID!){ viewer{ permissions(orgId:$o){ workflow action } } }";

async fn invitations(app: &tests::TestApp, token: &str, org: &str) -> Vec<Value> {
    app.ok(Some(token), INVITATIONS, json!({"o": org})).await["organization"]["invitations"].as_array().unwrap().clone()
}

/// `email`'s invitation once its delivery is `want`, asked again after each job the workers finish.
async fn wait_delivery(app: &tests::TestApp, token: &str, org: &str, email: &str, want: &str) -> Value {
    app.after_each_job(&format!("delivery of {email} as {want}"), || async {
        let inv = invitations(app, token, org).await.into_iter().find(|i| i["email"] == email).expect("invitation");
        (inv["deliveryStatus"] == want).then_some(inv)
    })
    .await
}

async fn invite_through_the_outbox_and_accept(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let r = app.invite(&owner, &org, "Bob@Example.com", &["MAKER", "SIGNER"]).await;
    assert_eq!(r["status"], "COMPLETED");

    // The e-mail names the organisation, the inviter and the roles.
    let eml = app
        .until_job("an e-mail in the outbox", || {
            let found = std::fs::read_dir(&app.outbox)
                .ok()
                .and_then(|d| d.flatten().find(|e| e.path().extension().is_some_and(|x| x == "eml")));
            found.map(|e| std::fs::read_to_string(e.path()).unwrap())
        })
        .await;
    assert!(eml.contains("To: bob@example.com"), "{eml}");
    assert!(
        eml.contains("Acme Treasury") && eml.contains("owner@example.com") && eml.contains("MAKER, SIGNER"),
        "{eml}"
    );
    assert!(eml.contains("text/html"), "an HTML part too");
    let token = invitation_token(&eml).unwrap_or_else(|| panic!("no link with a token in:\n{eml}"));
    assert!(tests::smtp::decode_qp(&eml).contains(&format!("{}/invite/{token}", app.base)));
    let inv = wait_delivery(&app, &owner.token, &org, "bob@example.com", "SENT").await;
    assert_eq!(inv["status"], "PENDING");
    assert_eq!(inv["invitedBy"]["email"], "owner@example.com");

    // Someone else cannot use Bob's link.
    let carol = app.sign_up("carol@example.com").await;
    assert_eq!(app.err(Some(&carol.token), ACCEPT, json!({"t": token})).await, "FORBIDDEN");
    assert_eq!(app.err(None, ACCEPT, json!({"t": token})).await, "UNAUTHENTICATED");
    assert_eq!(app.err(Some(&carol.token), ACCEPT, json!({"t": "x".repeat(43)})).await, "NOT_FOUND");

    let mut bob = app.sign_up("bob@example.com").await;
    let d = app.ok(Some(&bob.token), ACCEPT, json!({"t": token})).await;
    assert_eq!(d["acceptInvitation"]["roles"], json!(["MAKER", "SIGNER"]));
    assert_eq!(d["acceptInvitation"]["status"], "ACTIVE");
    assert_eq!(d["acceptInvitation"]["isOwner"], false);
    // Used once.
    assert_eq!(app.err(Some(&bob.token), ACCEPT, json!({"t": token})).await, "CONFLICT");
    let inv = invitations(&app, &owner.token, &org).await;
    assert_eq!(inv[0]["status"], "ACCEPTED");

    // Bob must enrol before acting; then his permissions are his roles'.
    assert_eq!(app.err(Some(&bob.token), PERMS, json!({"o": org})).await, "TWO_FACTOR_REQUIRED");
    app.enrol(&mut bob).await;
    let perms =
        app.ok(Some(&bob.token), PERMS, json!({"o": org})).await["viewer"]["permissions"].as_array().unwrap().len();
    assert_eq!(perms, 5, "MAKER (4) + SIGNER (VIEW already counted, EXECUTE)");
    let members = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ members{ user{ email } } } }", json!({"o": org}))
        .await;
    assert_eq!(members["organization"]["members"].as_array().unwrap().len(), 2);
    // Inviting an active member conflicts; the audit trail has both sides.
    let code = app
        .err(
            Some(&owner.token),
            "mutation($o:ID!){ inviteMember(orgId:$o,email:\"bob@example.com\",roles:[MAKER]){ request{ id } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    let audit = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:10){ edges{ node{ action actorId after } } } } }",
            json!({"o": org}),
        )
        .await;
    let actions: Vec<&str> = audit["organization"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["INVITATION_ACCEPTED", "INVITE_MEMBER", "ORGANIZATION_CREATED"]);
    assert!(!audit.to_string().contains(&token), "the link never reaches the audit trail");
}

async fn links_expire_are_replaced_and_revoked(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;

    // Re-inviting replaces the link.
    app.invite(&owner, &org, "dave@example.com", &["APPROVER"]).await;
    let first = app.outbox_token("dave@example.com").await;
    app.invite(&owner, &org, "dave@example.com", &["APPROVER", "REVIEWER"]).await;
    let second = app.outbox_token("dave@example.com").await;
    assert_ne!(first, second);
    assert_eq!(invitations(&app, &owner.token, &org).await.len(), 1, "one invitation, re-issued");
    let dave = app.sign_up("dave@example.com").await;
    assert_eq!(app.err(Some(&dave.token), ACCEPT, json!({"t": first})).await, "NOT_FOUND");
    let d = app.ok(Some(&dave.token), ACCEPT, json!({"t": second})).await;
    assert_eq!(d["acceptInvitation"]["roles"], json!(["APPROVER", "REVIEWER"]));

    // Revoked links stop working.
    app.invite(&owner, &org, "erin@example.com", &["MAKER"]).await;
    let t = app.outbox_token("erin@example.com").await;
    let id = invitations(&app, &owner.token, &org)
        .await
        .into_iter()
        .find(|i| i["email"] == "erin@example.com")
        .unwrap()["id"]
        .clone();
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!,$i:ID!){ revokeInvitation(orgId:$o,invitationId:$i){ request{ status } } }",
        json!({"o": org, "i": id}),
    )
    .await;
    let erin = app.sign_up("erin@example.com").await;
    assert_eq!(app.err(Some(&erin.token), ACCEPT, json!({"t": t})).await, "CONFLICT");

    // Links expire after 7 days.
    app.invite(&owner, &org, "finn@example.com", &["MAKER"]).await;
    let t = app.outbox_token("finn@example.com").await;
    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    let owner2 = {
        // The owner's session idled out during the week; sign in again.
        let code = app.totp(owner.totp_secret.as_deref().unwrap());
        let d = app
            .ok(None, "mutation($c:String!){ signIn(email:\"owner@example.com\",password:\"correct horse battery staple\",totp:$c){ token } }", json!({"c": code}))
            .await;
        d["signIn"]["token"].as_str().unwrap().to_string()
    };
    let finn = app.sign_up("finn@example.com").await;
    assert_eq!(app.err(Some(&finn.token), ACCEPT, json!({"t": t})).await, "CONFLICT");
    let inv = invitations(&app, &owner2, &org).await.into_iter().find(|i| i["email"] == "finn@example.com").unwrap();
    assert_eq!(inv["status"], "EXPIRED");
    // Bad input leaves nothing behind.
    let code = app
        .err(
            Some(&owner2),
            "mutation($o:ID!){ inviteMember(orgId:$o,email:\"not an email\",roles:[MAKER]){ request{ id } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(code, "BAD_INPUT");
    let code = app
        .err(
            Some(&owner2),
            "mutation($o:ID!){ inviteMember(orgId:$o,email:\"g@example.com\",roles:[]){ request{ id } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(code, "BAD_INPUT");
    assert_eq!(invitations(&app, &owner2, &org).await.len(), 3);
}

async fn roles_resolve_to_permissions_and_removal_cuts_access(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    // SPEC §3: role → (workflow, action) pairs.
    let table: &[(&str, usize)] =
        &[("ADMIN", 13), ("MAKER", 4), ("APPROVER", 4), ("SIGNER", 2), ("REVIEWER", 4), ("READ_ONLY", 4)];
    let mut sessions = Vec::new();
    for (role, count) in table {
        let email = format!("{}@example.com", role.to_lowercase().replace('_', "-"));
        let (s, member_id) = app.add_member(&owner, &org, &email, &[role]).await;
        let perms = app.ok(Some(&s.token), PERMS, json!({"o": org})).await;
        let perms = perms["viewer"]["permissions"].as_array().unwrap();
        assert_eq!(perms.len(), *count, "{role}: {perms:?}");
        sessions.push((role.to_string(), s, member_id));
    }
    let signer = &sessions[3];
    assert!(app.ok(Some(&signer.1.token), PERMS, json!({"o": org})).await.to_string().contains("EXECUTE"));

    // Only MANAGE_ACCESS initiators may manage members.
    let maker = &sessions[1];
    let q = "mutation($o:ID!,$m:ID!){ setMemberRoles(orgId:$o,memberId:$m,roles:[ADMIN]){ request{ id } } }";
    assert_eq!(app.err(Some(&maker.1.token), q, json!({"o": org, "m": maker.2})).await, "FORBIDDEN");
    let reviewer = &sessions[4];
    // Listing invitations needs VIEW on MANAGE_ACCESS: a reviewer has it, a signer does not.
    app.ok(Some(&reviewer.1.token), INVITATIONS, json!({"o": org})).await;
    assert_eq!(app.err(Some(&signer.1.token), INVITATIONS, json!({"o": org})).await, "FORBIDDEN");
    // ADMIN (not owner) may; a single grant adds to the role.
    let admin = &sessions[0];
    app.ok(
        Some(&admin.1.token),
        "mutation($o:ID!,$m:ID!){ grantPermission(orgId:$o,memberId:$m,workflow:MANAGE_POLICIES,action:VIEW){ request{ status } } }",
        json!({"o": org, "m": maker.2}),
    )
    .await;
    let perms = app.ok(Some(&maker.1.token), PERMS, json!({"o": org})).await;
    assert_eq!(perms["viewer"]["permissions"].as_array().unwrap().len(), 5);

    // Removal cuts access at once, on the very next call.
    app.ok(
        Some(&admin.1.token),
        "mutation($o:ID!,$m:ID!){ removeMember(orgId:$o,memberId:$m){ request{ status } } }",
        json!({"o": org, "m": maker.2}),
    )
    .await;
    assert_eq!(app.err(Some(&maker.1.token), PERMS, json!({"o": org})).await, "NOT_FOUND");
    assert_eq!(
        app.err(Some(&maker.1.token), "query($o:ID!){ organization(id:$o){ id } }", json!({"o": org})).await,
        "NOT_FOUND"
    );
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ members(includeRemoved:true){ status } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["organization"]["members"].as_array().unwrap().iter().filter(|m| m["status"] == "REMOVED").count(), 1);
}

async fn smtp_delivery_retries_fails_and_recovers(backend: Backend) {
    let sink = SmtpSink::start().await;
    let port = closed_port();
    let app = spawn_with(backend, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    // The server is down: five attempts with backoff, then FAILED, visibly.
    app.invite(&owner, &org, "gus@example.com", &["MAKER"]).await;
    let inv = wait_delivery(&app, &owner.token, &org, "gus@example.com", "FAILED").await;
    assert_eq!(inv["deliveryAttempts"], 5);
    assert!(inv["lastError"].as_str().unwrap().to_lowercase().contains("connect"), "{inv}");
    assert!(inv["sentAt"].is_null());
    drop(sink);

    // The server comes back; re-inviting delivers over a real SMTP conversation.
    let sink = SmtpSink::start_on(port).await;
    app.invite(&owner, &org, "gus@example.com", &["MAKER"]).await;
    let got = sink.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(got[0].rcpt_to, vec!["gus@example.com".to_string()]);
    assert!(got[0].data.contains("Subject: You are invited to join Acme on Countersign"));
    let token = invitation_token(&got[0].data).expect("token in the SMTP message");
    let inv = wait_delivery(&app, &owner.token, &org, "gus@example.com", "SENT").await;
    assert_eq!(inv["deliveryAttempts"], 1);
    let gus = app.sign_up("gus@example.com").await;
    let d = app.ok(Some(&gus.token), ACCEPT, json!({"t": token})).await;
    assert_eq!(d["acceptInvitation"]["user"]["email"], "gus@example.com");
}

async fn a_restarted_worker_delivers_queued_mail_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(backend, move |c| {
        c.smtp_url = Some(url);
        c.run_workers = false;
    })
    .await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    app.invite(&owner, &org, "hana@example.com", &["MAKER"]).await;
    // No worker is running: the job waits in the queue.
    assert_eq!(queue_depth(&app).await, 1.0, "the job is pending");
    assert!(sink.messages().is_empty());
    assert_eq!(invitations(&app, &owner.token, &org).await[0]["deliveryStatus"], "QUEUED");

    let worker = app.start_worker();
    sink.wait_for(1, Duration::from_secs(15)).await;
    wait_delivery(&app, &owner.token, &org, "hana@example.com", "SENT").await;
    worker.kill();
    // Another worker starting on the same queue does not send it again: it
    // delivers the next invitation, and only that.
    let worker = app.start_worker();
    app.invite(&owner, &org, "ivo@example.com", &["MAKER"]).await;
    wait_delivery(&app, &owner.token, &org, "ivo@example.com", "SENT").await;
    worker.stop().await;
    let rcpts: Vec<String> = sink.messages().into_iter().flat_map(|m| m.rcpt_to).collect();
    assert_eq!(rcpts, ["hana@example.com", "ivo@example.com"]);
    let hana = invitations(&app, &owner.token, &org).await.into_iter().find(|i| i["email"] == "hana@example.com");
    assert_eq!(hana.expect("hana's invitation")["deliveryAttempts"], 1);
}

async fn two_workers_deliver_each_invitation_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(backend, move |c| {
        c.smtp_url = Some(url);
        c.run_workers = false;
    })
    .await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (w1, w2) = (app.start_worker(), app.start_worker());
    let emails: Vec<String> = (0..12).map(|i| format!("user{i}@example.com")).collect();
    for e in &emails {
        app.invite(&owner, &org, e, &["READ_ONLY"]).await;
    }
    sink.wait_for(emails.len(), Duration::from_secs(30)).await;
    // Every delivery recorded as sent, and both workers drained: nothing more can go out.
    app.after_each_job("every invitation sent", || async {
        invitations(&app, &owner.token, &org).await.iter().all(|i| i["deliveryStatus"] == "SENT").then_some(())
    })
    .await;
    w1.stop().await;
    w2.stop().await;
    let mut got: Vec<String> = sink.messages().into_iter().flat_map(|m| m.rcpt_to).collect();
    got.sort();
    let mut want = emails.clone();
    want.sort();
    assert_eq!(got, want, "each invitation delivered exactly once");
}

/// The `countersign_queue_depth` gauge: jobs waiting to run.
async fn queue_depth(app: &tests::TestApp) -> f64 {
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("countersign_queue_depth")).expect("the queue depth gauge");
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a number")
}

both_backends!(
    invite_through_the_outbox_and_accept,
    links_expire_are_replaced_and_revoked,
    roles_resolve_to_permissions_and_removal_cuts_access,
    smtp_delivery_retries_fails_and_recovers,
    a_restarted_worker_delivers_queued_mail_once,
    two_workers_deliver_each_invitation_once,
);

//! The end-to-end test harness (zero2prod's `spawn_app`, for two databases).
//!
//! [`spawn`] starts the real server in-process on an ephemeral port against
//! a fresh database — a temporary SQLite file, or a new PostgreSQL database
//! created on `COUNTERSIGN_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) — with an [`OffsetClock`]
//! the test can move. Tests speak GraphQL over HTTP with [`TestApp::gql`];
//! [`TestApp::data`] and [`TestApp::answer`] read the answer into a type, so
//! a misnamed field fails loudly instead of reading as null.
//! [`both_backends!`] runs one test body against SQLite and PostgreSQL.
//!
//! Nothing here waits by the clock: a subscription is awaited until the
//! server registered it ([`TestApp::subscribe`]), mail until the in-process
//! workers finished the job that wrote it ([`TestApp::outbox_token`],
//! [`TestApp::mail_settled`]), and deadlines pass by moving [`TestApp::clock`].

pub mod browser;
pub mod process;
pub mod smtp;
pub mod webhook_receiver;
pub mod ws;

use api::clock::{Clock, OffsetClock};
use api::{Application, Config};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a harness wait gives the server before the test fails: a
/// bound on a broken server, not a guess at how long something takes.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Typed answers to the operations most tests make (see [`TestApp::answer`]).
pub mod answers {
    use serde::Deserialize;

    /// Anything asked for by `{ id }`.
    #[derive(Clone, Debug, Deserialize)]
    pub struct Id {
        pub id: String,
    }

    /// A request asked for by `{ id status }`.
    #[derive(Clone, Debug, Deserialize)]
    pub struct RequestRef {
        pub id: String,
        pub status: String,
    }

    /// A governed mutation's payload asked for by `{ request{ id status } }`.
    #[derive(Clone, Debug, Deserialize)]
    pub struct Governed {
        pub request: RequestRef,
    }

    /// `signUp` / `signIn` asked for by `{ token user{ id } }`.
    #[derive(Clone, Debug, Deserialize)]
    pub struct Signed {
        pub token: String,
        pub user: Id,
    }

    /// A token alone (`signIn{ token }`).
    #[derive(Clone, Debug, Deserialize)]
    pub struct Token {
        pub token: String,
    }

    /// `enrollTotp{ secret otpauthUrl }`.
    #[derive(Clone, Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Enrolment {
        pub secret: String,
        pub otpauth_url: String,
    }

    /// `acceptInvitation{ id roles }`.
    #[derive(Clone, Debug, Deserialize)]
    pub struct Member {
        pub id: String,
        pub roles: Vec<String>,
    }

    /// A subscription's `requestEvents{ kind request{ id … } }` event.
    #[derive(Clone, Debug, Deserialize)]
    pub struct RequestEvent {
        pub kind: String,
        pub request: Id,
    }
}

/// `value` read as `T`, or a panic that shows what did not fit.
pub fn typed<T: DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("the answer is not a {}: {e}\n{value:#}", std::any::type_name::<T>()))
}

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body `fn(Backend)` once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )+
    };
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    /// The server's shared state, for driving scheduled jobs without waiting for the clock.
    pub state: Arc<api::state::AppState>,
    /// The configuration the server runs with (for starting extra worker processes).
    pub worker_config: Config,
    pub database_url: String,
    pub clock: Arc<OffsetClock>,
    pub client: reqwest::Client,
    /// Where mail lands when no SMTP server is configured.
    pub outbox: std::path::PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("COUNTERSIGN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Creates a fresh, empty PostgreSQL database and returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sea_orm::ConnectionTrait;
    let admin = postgres_admin_url();
    let name = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
    let db = sea_orm::Database::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for the tests: {e}"));
    db.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    db.close().await.ok();
    with_database(&admin, &name)
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

/// Starts the server against a fresh database of `backend`.
pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}).await
}

/// Like [`spawn`], after letting the test adjust the configuration.
pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("TEST_LOG").unwrap_or_default())
            .with_test_writer()
            .try_init();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    start(dir, database_url, adjust).await
}

/// Starts another server on `other`'s database, as a second `serve` process
/// of the same deployment would run (same master key, its own clock and outbox).
pub async fn spawn_sharing(other: &TestApp) -> TestApp {
    start(tempfile::tempdir().expect("temp dir"), other.database_url.clone(), |_| {}).await
}

async fn start(dir: tempfile::TempDir, database_url: String, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config {
        database_url: database_url.clone(),
        bind: "127.0.0.1:0".parse().expect("addr"),
        worker_bind: "127.0.0.1:0".parse().expect("addr"),
        outbox_dir: dir.path().join("outbox"),
        operator_token: Some("operator-test-token".into()),
        master_key: Some("42".repeat(32)),
        mail_retry_base_ms: 50,
        // Most tests whitelist an address and withdraw to it at once; the
        // cooling-off test (treasury_controls.rs) sets the production default back.
        address_cooling_off_secs: 0,
        // Webhook tests receive on 127.0.0.1 over plain HTTP.
        webhooks_allow_http_loopback: true,
        // Working on the console: serve `api/console/` as it is on disk, so
        // a browser test sees an edit without rebuilding the server.
        console_dir: std::env::var_os("COUNTERSIGN_CONSOLE_DIR").map(std::path::PathBuf::from),
        ..Config::default()
    };
    adjust(&mut config);
    let outbox = config.outbox_dir.clone();
    let clock = OffsetClock::new();
    let worker_config = config.clone();
    let app = Application::build_with_clock(config, clock.clone()).await.expect("build app");
    let state = app.state();
    let base = format!("http://{}", app.addr());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        app.run_until(async {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });
    TestApp {
        base,
        state,
        worker_config,
        database_url,
        clock,
        client: reqwest::Client::new(),
        outbox,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

/// A signed-in user as a test sees them.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub user_id: String,
    pub email: String,
    pub password: String,
    /// The TOTP secret once enrolled.
    pub totp_secret: Option<String>,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Posts a GraphQL operation and returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req =
            self.client.post(format!("{}/graphql", self.base)).json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        resp.json().await.expect("json body")
    }

    /// Posts a batch of GraphQL operations (`[{query, variables}, …]`) in one
    /// request and returns the HTTP status and the body (an array of responses,
    /// or one error object when the whole request is refused).
    pub async fn gql_batch(&self, token: Option<&str>, ops: &[(&str, Value)]) -> (u16, Value) {
        let batch: Vec<Value> = ops.iter().map(|(q, v)| json!({"query": q, "variables": v})).collect();
        let mut req = self.client.post(format!("{}/graphql", self.base)).json(&batch);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json body"))
    }

    /// Like [`gql`](Self::gql), asserting no errors; returns `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}\nquery: {query}");
        body["data"].clone()
    }

    /// Like [`ok`](Self::ok), reading `data` as `T` (a missing or misnamed field fails).
    pub async fn data<T: DeserializeOwned>(&self, token: Option<&str>, query: &str, variables: Value) -> T {
        typed(&self.ok(token, query, variables).await)
    }

    /// Like [`data`](Self::data) for an operation that asks for one root
    /// field: that field's value read as `T`.
    pub async fn answer<T: DeserializeOwned>(&self, token: Option<&str>, query: &str, variables: Value) -> T {
        let data = self.ok(token, query, variables).await;
        let fields = data.as_object().filter(|o| o.len() == 1);
        let (_, value) = fields.and_then(|o| o.iter().next()).unwrap_or_else(|| panic!("not one root field: {data:#}"));
        typed(value)
    }

    /// Like [`gql`](Self::gql), asserting an error; returns its `extensions.code`.
    pub async fn err(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let body = self.gql(token, query, variables).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        assert!(code.is_some(), "expected an error with a code, got {body:#}\nquery: {query}");
        code.unwrap_or_default().to_string()
    }

    /// The current (test-controlled) time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// A TOTP code for `secret` at the current test time.
    pub fn totp(&self, secret: &str) -> String {
        totp_code(secret, self.now())
    }

    /// Signs up a new user (not yet enrolled in 2FA).
    pub async fn sign_up(&self, email: &str) -> Session {
        self.sign_up_as(email, email.split('@').next().unwrap_or("user")).await
    }

    /// Signs up a new user with a display name (not yet enrolled in 2FA).
    pub async fn sign_up_as(&self, email: &str, name: &str) -> Session {
        let signed: answers::Signed = self
            .answer(
                None,
                "mutation($e:String!,$p:String!,$n:String!){ signUp(email:$e,password:$p,name:$n){ token user{ id } } }",
                json!({"e": email, "p": PASSWORD, "n": name}),
            )
            .await;
        Session {
            token: signed.token,
            user_id: signed.user.id,
            email: email.to_string(),
            password: PASSWORD.to_string(),
            totp_secret: None,
        }
    }

    /// Signs in again (password and a fresh TOTP code) and returns the new token.
    pub async fn sign_in(&self, s: &Session) -> String {
        self.clock.advance(chrono::Duration::seconds(31));
        let code = s.totp_secret.as_deref().map(|secret| self.totp(secret));
        let signed: answers::Token = self
            .answer(
                None,
                "mutation($e:String!,$p:String!,$c:String){ signIn(email:$e,password:$p,totp:$c){ token } }",
                json!({"e": s.email, "p": s.password, "c": code}),
            )
            .await;
        signed.token
    }

    /// Enrols the session's user in TOTP and confirms it, making the session verified.
    pub async fn enrol(&self, s: &mut Session) {
        let enrolment: answers::Enrolment =
            self.answer(Some(&s.token), "mutation{ enrollTotp{ secret otpauthUrl } }", json!({})).await;
        assert!(enrolment.otpauth_url.starts_with("otpauth://"), "{enrolment:?}");
        let secret = enrolment.secret;
        let code = self.totp(&secret);
        self.ok(Some(&s.token), "mutation($c:String!){ confirmTotp(code:$c) }", json!({"c": code})).await;
        s.totp_secret = Some(secret);
        // The next code must come from a later time step.
        self.clock.advance(chrono::Duration::seconds(30));
    }

    /// A new user, enrolled and verified.
    pub async fn user(&self, email: &str) -> Session {
        let mut s = self.sign_up(email).await;
        self.enrol(&mut s).await;
        s
    }

    /// Creates an organisation and returns its id.
    pub async fn create_org(&self, s: &Session, name: &str) -> String {
        let org: answers::Id = self
            .answer(Some(&s.token), "mutation($n:String!){ createOrganization(name:$n){ id } }", json!({"n": name}))
            .await;
        org.id
    }

    /// Starts a separate job-worker runtime (as `countersign worker` would)
    /// on this app's database; dropping the handle stops it.
    pub fn start_worker(&self) -> WorkerHandle {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let config = self.worker_config.clone();
        let clock: api::clock::SharedClock = self.clock.clone();
        // It counts its jobs on this server's signals, so `until_job` and
        // `mail_settled` wait for its work too.
        let signals = self.state.signals.clone();
        let task = tokio::spawn(async move {
            api::startup::run_worker_process_with(config, clock, signals, async {
                let _ = rx.await;
            })
            .await
            .expect("worker process");
        });
        WorkerHandle { stop: Some(tx), task: Some(task) }
    }

    /// Invites `email` with `roles` (as the given admin) and returns the request status.
    pub async fn invite(&self, admin: &Session, org: &str, email: &str, roles: &[&str]) -> Value {
        let d = self
            .ok(
                Some(&admin.token),
                "mutation($o:ID!,$e:String!,$r:[Role!]!){ inviteMember(orgId:$o,email:$e,roles:$r){ request{ id status } } }",
                json!({"o": org, "e": email, "r": roles}),
            )
            .await;
        d["inviteMember"]["request"].clone()
    }

    /// Waits for an outbox `.eml` addressed to `email` and returns the
    /// invitation token in it (removing the file). Looks again each time
    /// this process's workers finish a job, not on a timer.
    pub async fn outbox_token(&self, email: &str) -> String {
        self.until_job(&format!("an invitation e-mail for {email} in the outbox"), || {
            let entries = std::fs::read_dir(&self.outbox).ok()?;
            for e in entries.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                if e.path().extension().is_some_and(|x| x == "eml")
                    && text.contains(&format!("To: {email}"))
                    && let Some(t) = smtp::invitation_token(&text)
                {
                    let _ = std::fs::remove_file(e.path());
                    return Some(t);
                }
            }
            None
        })
        .await
    }

    /// Returns `found()`'s first answer, asking again each time one of this
    /// process's background jobs finishes (so after each e-mail it writes).
    pub async fn until_job<T>(&self, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
        self.after_each_job(what, || std::future::ready(found())).await
    }

    /// [`until_job`](Self::until_job) with an asynchronous question (a query, say).
    pub async fn after_each_job<T, F: std::future::Future<Output = Option<T>>>(
        &self,
        what: &str,
        mut found: impl FnMut() -> F,
    ) -> T {
        let mut finished = self.state.signals.jobs_finished.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            finished.borrow_and_update();
            if let Some(t) = found().await {
                return t;
            }
            match tokio::time::timeout_at(deadline, finished.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("no {what} after {PATIENCE:?}"),
            }
        }
    }

    /// Waits until every invitation and notification e-mail is settled (none
    /// queued or being sent), asking after each job this process's workers
    /// finish: what is in the outbox then is all the mail there will be.
    pub async fn mail_settled(&self) {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let mut finished = self.state.signals.jobs_finished.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            finished.borrow_and_update();
            let unsettled = ["QUEUED", "SENDING"];
            let invitations = entity::invitation::Entity::find()
                .filter(entity::invitation::Column::DeliveryStatus.is_in(unsettled))
                .count(&self.state.db)
                .await
                .expect("count invitations");
            let notifications = entity::notification::Entity::find()
                .filter(entity::notification::Column::DeliveryStatus.is_in(unsettled))
                .count(&self.state.db)
                .await
                .expect("count notifications");
            if invitations + notifications == 0 {
                return;
            }
            match tokio::time::timeout_at(deadline, finished.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("{invitations} invitation(s) and {notifications} notification(s) still unsent"),
            }
        }
    }

    /// Starts a subscription on `ws` and returns once this server registered
    /// it with its event bus: every event published from then on reaches it,
    /// and none published before (see [`bus_delivered`](Self::bus_delivered)).
    pub async fn subscribe(&self, ws: &mut ws::WsClient, id: &str, query: &str, variables: Value) {
        self.bus_delivered().await;
        let mut registered = self.state.signals.subscriptions.subscribe();
        let before = *registered.borrow_and_update();
        ws.subscribe(id, query, variables).await;
        tokio::time::timeout(PATIENCE, registered.wait_for(|n| *n > before))
            .await
            .unwrap_or_else(|_| panic!("subscription {id} was not registered: {query}"))
            .expect("the server's state lives");
    }

    /// Adds a member with `roles` the way people join: invitation e-mail,
    /// sign-up, acceptance, TOTP enrolment. Needs in-process workers and the outbox.
    pub async fn add_member(&self, admin: &Session, org: &str, email: &str, roles: &[&str]) -> (Session, String) {
        let r: answers::RequestRef = typed(&self.invite(admin, org, email, roles).await);
        assert_eq!(r.status, "COMPLETED", "{r:?}");
        let token = self.outbox_token(email).await;
        let mut s = self.sign_up(email).await;
        let member: answers::Member = self
            .answer(
                Some(&s.token),
                "mutation($t:String!){ acceptInvitation(token:$t){ id roles } }",
                json!({"t": token}),
            )
            .await;
        let member_id = member.id;
        self.enrol(&mut s).await;
        (s, member_id)
    }

    /// Returns once this server's event bus delivered every event published
    /// so far. On PostgreSQL events travel through `NOTIFY` and may arrive
    /// after a subscriber that started later registered; a marker event
    /// (for no organisation, so no subscription shows it) sent now arrives
    /// after all of them.
    pub async fn bus_delivered(&self) {
        let mut delivered = self.state.bus.subscribe();
        let marker = uuid::Uuid::new_v4().to_string();
        self.state.bus.publish([api::events::RequestEventMsg {
            org_id: format!("test-marker-{marker}"),
            request_id: marker.clone(),
            workflow: api::domain::Workflow::InitiateWithdrawal,
            kind: "MARKER".into(),
        }]);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, delivered.recv()).await {
                Ok(Ok(d)) if d.msg.request_id == marker => return,
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(_)) | Err(_) => panic!("the event bus did not deliver its own marker"),
            }
        }
    }

    /// Runs the minutely scheduled jobs now, as the worker's cron tick would.
    pub async fn run_minutely_jobs(&self) {
        use api::jobs::ApiHandlers;
        use workers::Handlers;
        let h = ApiHandlers { state: self.state.clone() };
        h.sweep_deliveries().await.expect("sweep");
        h.expire_requests().await.expect("expire");
        h.recompute_balance_alerts().await.expect("recompute");
        h.send_approver_digests().await.expect("approver digests");
    }

    /// Runs the 00:00 UTC job now, as the worker's cron tick would.
    pub async fn run_daily_jobs(&self) {
        use api::jobs::ApiHandlers;
        use workers::Handlers;
        ApiHandlers { state: self.state.clone() }.prune_limit_counters().await.expect("daily prune");
    }

    /// Opens a GraphQL WebSocket (graphql-transport-ws) authenticated with `token`.
    pub async fn ws(&self, token: &str) -> ws::WsClient {
        ws::WsClient::connect(&self.base, json!({"token": token})).await
    }

    /// Sends a GraphQL request signed with an API key (SPEC §2): returns the
    /// HTTP status and body. `sign_body` lets a test sign other bytes than it sends.
    pub async fn signed_raw(
        &self,
        key_id: &str,
        secret: &str,
        nonce: &str,
        body: &str,
        sign_body: &str,
    ) -> (u16, Value) {
        let signature = sign(secret, nonce, sign_body.as_bytes());
        let resp = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("content-type", "application/json")
            .header("X-Api-Key", key_id)
            .header("X-Api-Nonce", nonce)
            .header("X-Api-Signature", signature)
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A correctly signed GraphQL request.
    pub async fn signed(&self, key: &(String, String), nonce: u64, query: &str, variables: Value) -> (u16, Value) {
        let body = json!({"query": query, "variables": variables}).to_string();
        self.signed_raw(&key.0, &key.1, &nonce.to_string(), &body, &body).await
    }

    /// The id of the organisation's first account (the default one).
    pub async fn first_account(&self, admin: &Session, org: &str) -> String {
        let d = self
            .ok(Some(&admin.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org}))
            .await;
        d["organization"]["accounts"][0]["id"].as_str().expect("an account").to_string()
    }

    /// Whitelists `address` (a valid Ethereum address) on the network
    /// `ethereum` for `asset` on `account` (the caller's request must
    /// complete at once); its id.
    pub async fn whitelist(&self, admin: &Session, org: &str, account: &str, asset: &str, address: &str) -> String {
        self.whitelist_on(admin, org, account, asset, "ethereum", address).await
    }

    /// [`TestApp::whitelist`] on any network; the address is found again in
    /// whatever canonical spelling the server stored.
    pub async fn whitelist_on(
        &self,
        admin: &Session,
        org: &str,
        account: &str,
        asset: &str,
        network: &str,
        address: &str,
    ) -> String {
        let input =
            json!({"accountId": account, "asset": asset, "network": network, "address": address, "label": "cold"});
        let d = self
            .ok(
                Some(&admin.token),
                "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }",
                json!({"o": org, "i": input}),
            )
            .await;
        assert_eq!(d["addAddress"]["request"]["status"], "COMPLETED", "whitelisting {address}");
        let stored = canonical_address(network, address);
        let d = self
            .ok(
                Some(&admin.token),
                "query($o:ID!){ organization(id:$o){ addresses{ id address network } } }",
                json!({"o": org}),
            )
            .await;
        let all = d["organization"]["addresses"].as_array().expect("addresses");
        all.iter().find(|a| a["address"] == stored.as_str() && a["network"] == network).expect("the new address")["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Credits an account as the platform operator.
    pub async fn credit(&self, account: &str, asset: &str, amount: &str, reference: &str) -> Value {
        self.ok(
            Some("operator-test-token"),
            "mutation($a:ID!,$s:String!,$m:Decimal!,$r:String!){ creditAccount(accountId:$a,asset:$s,amount:$m,reference:$r){ id amount balanceAfter } }",
            json!({"a": account, "s": asset, "m": amount, "r": reference}),
        )
        .await
    }

    /// Opens a direct connection to the test database (for tampering tests).
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(&self.database_url).await.expect("connect to test db")
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret at `at`.
/// How the server stores `address` on `network`: its canonical spelling
/// (EIP-55 for EVM networks, lower case for segwit).
pub fn canonical_address(network: &str, address: &str) -> String {
    let network = api::domain::Network::from_input(network).expect("a known network");
    api::domain::ChainAddress::parse(network, address).expect("a valid address").into_inner()
}

pub fn totp_code(secret: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string()).to_bytes().expect("base32 secret");
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, None, String::new());
    totp.generate(at.timestamp() as u64)
}

/// A running worker runtime started by [`TestApp::start_worker`].
pub struct WorkerHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WorkerHandle {
    /// Asks it to shut down gracefully and waits.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Kills it abruptly (no graceful shutdown), like a crashed process.
    pub fn kill(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// An introspected `__Type` reference's named type under its NON_NULL and
/// LIST wrappers: its kind, its name, and whether a list is involved (the
/// schema walks of `tenancy.rs` and `reach.rs`).
pub fn base_type(t: &Value) -> (String, String, bool) {
    let mut t = t;
    let mut list = false;
    while t["name"].is_null() {
        list |= t["kind"] == "LIST";
        t = &t["ofType"];
    }
    (t["kind"].as_str().unwrap_or("").to_string(), t["name"].as_str().unwrap_or("").to_string(), list)
}

/// Lowercase hex HMAC-SHA256 over `nonce + "\n" + body`, keyed with the
/// secret text's ASCII bytes, as a client computes it.
pub fn sign(secret: &str, nonce: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

//! The audit trail: append-only, chained per organisation (SPEC §9), keyed so
//! that the database alone cannot re-forge it, and signed so that an exported
//! trail can be checked offline.
//!
//! Each record carries two links:
//! - `hash`: SHA-256 over the previous record's `hash` and this record's
//!   fields ([`hash_fields`]). Anyone can recompute it, the offline verifier
//!   included; on its own it only proves consistency, since whoever can write
//!   the database can recompute it after an edit.
//! - `mac`: HMAC-SHA256 over the previous record's `mac` and this `hash`, under
//!   a key derived from the master key ([`MasterKey::audit_mac_key`]). The
//!   database never holds that key, so an edited record — with every later
//!   `hash` and the organisation's head recomputed — no longer matches its
//!   MAC, and [`verify`] names it.
//!
//! Every [`CHECKPOINT_EVERY`] records, and for the last record of every
//! export, the server signs a checkpoint with Ed25519 (key derived from the
//! master key, [`MasterKey::audit_signing_key`]): the statement
//! ([`statement`]) names the organisation, the sequence number, that record's
//! `hash` and `mac`, and the time. Because `hash` chains every earlier record,
//! the signature vouches for the whole prefix. A checkpoint is signed only
//! after the MAC chain up to it has been verified (from the newest valid
//! stored checkpoint, or from the start), so the server never signs a
//! re-forged prefix. Periodic checkpoints are stored (`audit_checkpoints`);
//! the export's own is signed afresh on each export and not stored (a read
//! writes nothing).
//!
//! What the offline verifier (`audit_offline`, `countersign audit verify`)
//! proves, given the verification key (`countersign audit public-key`): every
//! exported record's fields are those the server chained, in that order, up to
//! the newest signed checkpoint in the export, and each checkpoint was signed
//! by the holder of the master key. What an attacker with write access to the
//! database (but not the master key) can and cannot do:
//! - cannot change, insert or reorder records without [`verify`] naming the
//!   first one touched, nor get such a record into an export that verifies
//!   (the server refuses to sign past a broken MAC);
//! - cannot forge or move a checkpoint;
//! - can delete the newest records together with the checkpoints after them
//!   and roll the organisation's head back (a rollback to an earlier true
//!   state). The server cannot see that; an auditor holding an earlier export
//!   or checkpoint with a higher sequence number can;
//! - can make the trail unverifiable (corrupt it), which verification reports.
//!
//! Upgrade: records written before the keyed chain had only `hash`. The
//! process that applies migration `m0012_keyed_audit_chain` seals them right
//! after, in the same step ([`upgrade`]): it re-checks each organisation's
//! SHA-256 chain and MACs the records as they are then, up to the first that
//! does not verify. That is trust on first use: the upgrade vouches for the
//! trail as it stood at upgrade time. It runs only when that migration is
//! applied — never again on a later start — and afterwards a record without a
//! MAC is refused, so there is no cut-over an attacker could move.
//!
//! [`append`] runs inside the caller's transaction, so a state change and its
//! record commit together or not at all. Appends to one organisation are
//! serialized by locking the organisation row (PostgreSQL `FOR UPDATE`; on
//! SQLite the `BEGIN IMMEDIATE` write transaction already excludes others),
//! which keeps the chain linear under concurrency. The keys are installed once
//! per process ([`install_keys`]) so that the many call sites of [`append`]
//! need not carry them.
//!
//! [`MasterKey::audit_mac_key`]: crate::keys::MasterKey::audit_mac_key
//! [`MasterKey::audit_signing_key`]: crate::keys::MasterKey::audit_signing_key

use super::{ServiceError, ServiceResult, names};
use crate::access::OrgAccess;
use crate::bulk::{UpdateByKey, update_by_key};
use crate::keys::MasterKey;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Action, ActorKind, Workflow};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use entity::{audit_checkpoint, audit_record, organization};
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The hash (and MAC) a chain starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A stored checkpoint is signed each time a chain crosses a multiple of this.
pub const CHECKPOINT_EVERY: i64 = 100;

/// The chain's MAC key and the checkpoint signing key of this process.
struct AuditKeys {
    mac: [u8; 32],
    signing: SigningKey,
}

static KEYS: OnceLock<AuditKeys> = OnceLock::new();

/// Installs the audit keys derived from `master` for this process. A process
/// serves one deployment, so one master key: installing a different one later
/// is refused rather than silently mixing chains.
pub fn install_keys(master: &MasterKey) -> ServiceResult<()> {
    let mac = master.audit_mac_key();
    let installed = KEYS.get_or_init(|| AuditKeys { mac, signing: master.audit_signing_key() });
    if installed.mac != mac {
        return Err(ServiceError::internal("a different master key is already installed for the audit chain"));
    }
    Ok(())
}

fn keys() -> ServiceResult<&'static AuditKeys> {
    KEYS.get().ok_or_else(|| ServiceError::internal("audit keys are not installed"))
}

/// The key that verifies checkpoints, as printed by `countersign audit public-key`.
pub fn verifying_key(master: &MasterKey) -> VerifyingKey {
    master.audit_signing_key().verifying_key()
}

/// The verification key as 64 lowercase hex characters (32 bytes).
pub fn public_key_hex(master: &MasterKey) -> String {
    hex::encode(verifying_key(master).to_bytes())
}

/// Who performed an audited action.
#[derive(Clone, Debug)]
pub struct AuditActor {
    pub kind: ActorKind,
    pub id: String,
}

impl AuditActor {
    pub fn user(user_id: &str) -> Self {
        Self { kind: ActorKind::User, id: user_id.to_string() }
    }

    /// The caller behind an organisation access (member or service user).
    pub fn of(access: &OrgAccess) -> Self {
        Self { kind: access.actor_kind(), id: access.user_id.clone() }
    }

    pub fn system(job: &str) -> Self {
        Self { kind: ActorKind::System, id: job.to_string() }
    }
}

/// One record to append.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    pub org_id: &'a str,
    pub actor: AuditActor,
    pub action: &'a str,
    pub target: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

/// One record's fields as the hash covers them, borrowed; shared by the
/// server and the offline verifier so that both hash exactly the same bytes.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    pub org_id: &'a str,
    pub seq: i64,
    pub actor_kind: &'a str,
    pub actor_id: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before: &'a str,
    pub after: &'a str,
    pub request_id: &'a str,
    /// RFC 3339 with microseconds and `Z` ([`at_text`]).
    pub at: &'a str,
}

/// A record's time as hashed and exported.
pub fn at_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// SHA-256 over `prev_hash` and the fields, each length-prefixed, hex.
pub fn hash_fields(prev_hash: &str, f: &Fields<'_>) -> String {
    let mut h = Sha256::new();
    let seq = f.seq.to_string();
    let fields: [&str; 10] =
        [f.org_id, &seq, f.actor_kind, f.actor_id, f.action, f.target, f.before, f.after, f.request_id, f.at];
    h.update(prev_hash.as_bytes());
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The hash of a stored record, from `prev_hash`.
fn compute_hash(prev_hash: &str, r: &audit_record::Model) -> String {
    let at = at_text(r.at);
    hash_fields(
        prev_hash,
        &Fields {
            org_id: &r.org_id,
            seq: r.seq,
            actor_kind: r.actor_kind.as_str(),
            actor_id: &r.actor_id,
            action: &r.action,
            target: r.target.as_deref().unwrap_or(""),
            before: r.before.as_deref().unwrap_or(""),
            after: r.after.as_deref().unwrap_or(""),
            request_id: r.request_id.as_deref().unwrap_or(""),
            at: &at,
        },
    )
}

/// The keyed link: HMAC-SHA256 over the previous MAC and this record's hash, hex.
fn link_mac(key: &[u8; 32], prev_mac: &str, hash: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"countersign audit chain v2\n");
    mac.update(prev_mac.as_bytes());
    mac.update(b"\n");
    mac.update(hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Compares two MACs in constant time (their length is not secret).
fn same_mac(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bytes a checkpoint's Ed25519 signature covers.
pub fn statement(org_id: &str, seq: i64, head_hash: &str, head_mac: &str, at: &str) -> Vec<u8> {
    format!("countersign audit checkpoint v1\norg {org_id}\nseq {seq}\nhash {head_hash}\nmac {head_mac}\nat {at}\n")
        .into_bytes()
}

/// Whether `cp`'s signature verifies under `key`.
pub fn signature_verifies(
    key: &VerifyingKey,
    org_id: &str,
    seq: i64,
    head_hash: &str,
    head_mac: &str,
    at: &str,
    signature: &str,
) -> bool {
    let Ok(bytes) = hex::decode(signature) else { return false };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
    let sig = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verify_strict(&statement(org_id, seq, head_hash, head_mac, at), &sig).is_ok()
}

/// A checkpoint as stored and exported.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub at: String,
    pub head_hash: String,
    pub head_mac: String,
    pub signature: String,
}

impl Checkpoint {
    fn sign(keys: &AuditKeys, org_id: &str, head: &audit_record::Model, now: DateTime<Utc>) -> Self {
        let at = at_text(now);
        let sig = keys.signing.sign(&statement(org_id, head.seq, &head.hash, &head.mac, &at));
        Checkpoint {
            seq: head.seq,
            at,
            head_hash: head.hash.clone(),
            head_mac: head.mac.clone(),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    fn of(m: &audit_checkpoint::Model) -> Self {
        Checkpoint {
            seq: m.seq,
            at: at_text(m.at),
            head_hash: m.head_hash.clone(),
            head_mac: m.head_mac.clone(),
            signature: m.signature.clone(),
        }
    }

    /// Signed by this deployment and naming exactly `record`.
    fn holds_for(&self, keys: &AuditKeys, org_id: &str, record: &audit_record::Model) -> bool {
        record.seq == self.seq
            && record.hash == self.head_hash
            && same_mac(&record.mac, &self.head_mac)
            && signature_verifies(
                &keys.signing.verifying_key(),
                org_id,
                self.seq,
                &self.head_hash,
                &self.head_mac,
                &self.at,
                &self.signature,
            )
    }
}

/// The record that follows the chain head (`seq`, `head`, `head_mac`) with `entry`, hashed and MACed.
fn chained(
    keys: &AuditKeys,
    entry: Entry<'_>,
    seq: i64,
    head: &str,
    head_mac: &str,
    now: DateTime<Utc>,
) -> audit_record::Model {
    let mut record = audit_record::Model {
        id: 0,
        org_id: entry.org_id.to_string(),
        seq: seq + 1,
        actor_kind: entry.actor.kind,
        actor_id: entry.actor.id,
        action: entry.action.to_string(),
        target: entry.target,
        before: entry.before.map(|v| v.to_string()),
        after: entry.after.map(|v| v.to_string()),
        request_id: entry.request_id,
        at: now,
        prev_hash: head.to_string(),
        hash: String::new(),
        mac: String::new(),
    };
    record.hash = compute_hash(head, &record);
    record.mac = link_mac(&keys.mac, head_mac, &record.hash);
    record
}

/// A record ready to insert: every column set but the database-assigned id.
fn insertable(record: audit_record::Model) -> audit_record::ActiveModel {
    let mut active = record.into_active_model().reset_all();
    active.id = sea_orm::ActiveValue::NotSet;
    active
}

/// Appends `entry` to its organisation's chain inside the caller's transaction.
pub async fn append<C: ConnectionTrait>(
    db: &C,
    entry: Entry<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<audit_record::Model> {
    let keys = keys()?;
    let org = organization::Entity::find_by_id(entry.org_id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("organization"))?;
    let old_seq = org.audit_seq;
    let record = chained(keys, entry, org.audit_seq, &org.audit_head, &org.audit_head_mac, now);
    let inserted = insertable(record.clone()).insert(db).await?;
    let mut org: organization::ActiveModel = org.into();
    org.audit_seq = Set(record.seq);
    org.audit_head = Set(record.hash.clone());
    org.audit_head_mac = Set(record.mac.clone());
    org.update(db).await?;
    checkpoint_if_due(db, keys, &record.org_id, old_seq, record.seq, now).await?;
    Ok(inserted)
}

/// Appends many entries (of one or many organisations) inside the caller's
/// transaction, as [`append`] would one after another, in three round trips
/// plus one update per organisation: lock the organisations, insert every
/// record, move each chain's head. For the batch jobs.
pub async fn append_many<C: ConnectionTrait>(db: &C, entries: Vec<Entry<'_>>, now: DateTime<Utc>) -> ServiceResult<()> {
    append_many_at(db, entries.into_iter().map(|e| (e, now)).collect()).await
}

/// [`append_many`], each entry recorded at a time of its own (in order: the
/// chain's times never go back).
pub async fn append_many_at<C: ConnectionTrait>(db: &C, entries: Vec<(Entry<'_>, DateTime<Utc>)>) -> ServiceResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let keys = keys()?;
    let mut ids: Vec<&str> = entries.iter().map(|(e, _)| e.org_id).collect();
    ids.sort_unstable();
    ids.dedup();
    // Per organisation: the sequence number before, and the moving head (seq, hash, mac).
    let mut heads: std::collections::HashMap<String, (i64, i64, String, String)> = std::collections::HashMap::new();
    for chunk in ids.chunks(BATCH_IDS) {
        for org in organization::Entity::find()
            .filter(organization::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(organization::Column::Id)
            .lock_exclusive()
            .all(db)
            .await?
        {
            heads.insert(org.id, (org.audit_seq, org.audit_seq, org.audit_head, org.audit_head_mac));
        }
    }
    let mut rows = Vec::with_capacity(entries.len());
    let mut last_at: std::collections::HashMap<String, DateTime<Utc>> = std::collections::HashMap::new();
    for (entry, at) in entries {
        let (_, seq, head, head_mac) = heads.get_mut(entry.org_id).ok_or(ServiceError::NotFound("organization"))?;
        last_at.insert(entry.org_id.to_string(), at);
        let record = chained(keys, entry, *seq, head, head_mac, at);
        *seq = record.seq;
        *head = record.hash.clone();
        *head_mac = record.mac.clone();
        rows.push(insertable(record));
    }
    // 14 columns a row: well under SQLite's bound-parameter limit per statement.
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(BATCH_IDS).collect();
        audit_record::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    // Every organisation's new head in one statement per 500, not one each.
    let moved: Vec<Vec<sea_orm::Value>> = heads
        .iter()
        .map(|(org_id, (_, seq, head, mac))| {
            vec![org_id.clone().into(), (*seq).into(), head.clone().into(), mac.clone().into()]
        })
        .collect();
    let update = UpdateByKey {
        table: "organizations",
        key: "id",
        columns: &["audit_seq", "audit_head", "audit_head_mac"],
        constants: Vec::new(),
    };
    update_by_key(db, &update, moved).await?;
    for (org_id, (old_seq, seq, _, _)) in heads {
        let at = last_at.get(&org_id).copied().unwrap_or_default();
        checkpoint_if_due(db, keys, &org_id, old_seq, seq, at).await?;
    }
    Ok(())
}

/// Stores a signed checkpoint at `new_seq` when the append from `old_seq`
/// crossed a multiple of [`CHECKPOINT_EVERY`] — only if the MAC chain up to it
/// verifies; a broken chain is logged and left unsigned (the append goes on:
/// refusing it would let whoever broke the chain stop the organisation).
async fn checkpoint_if_due<C: ConnectionTrait>(
    db: &C,
    keys: &AuditKeys,
    org_id: &str,
    old_seq: i64,
    new_seq: i64,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    if new_seq / CHECKPOINT_EVERY == old_seq / CHECKPOINT_EVERY {
        return Ok(());
    }
    match verified_head(db, keys, org_id, new_seq).await? {
        Some(head) => {
            let cp = Checkpoint::sign(keys, org_id, &head, now);
            audit_checkpoint::ActiveModel {
                id: sea_orm::ActiveValue::NotSet,
                org_id: Set(org_id.to_string()),
                seq: Set(cp.seq),
                at: Set(now),
                head_hash: Set(cp.head_hash),
                head_mac: Set(cp.head_mac),
                signature: Set(cp.signature),
            }
            .insert(db)
            .await?;
        }
        None => tracing::error!(org_id, seq = new_seq, "audit chain does not verify; checkpoint not signed"),
    }
    Ok(())
}

/// Where a scan of the chain starts: after `seq`, whose record has `hash` and `mac`.
struct Anchor {
    seq: i64,
    hash: String,
    mac: String,
}

impl Anchor {
    fn genesis() -> Self {
        Anchor { seq: 0, hash: GENESIS.to_string(), mac: GENESIS.to_string() }
    }
}

/// What a scan found.
struct Scan {
    /// The last record that verified (None: none after the anchor).
    last: Option<audit_record::Model>,
    /// Sequence number of the last record that verified (the anchor's if none).
    through: i64,
    /// The first record that does not verify, if the scan met one.
    first_bad: Option<i64>,
    /// The verified records at the sequence numbers asked for.
    at: std::collections::HashMap<i64, audit_record::Model>,
}

/// Re-checks the chain after `from` up to `upto` (inclusive; `None`: the
/// end): contiguous sequence numbers, links, content hashes and MACs.
async fn scan<C: ConnectionTrait>(
    db: &C,
    keys: &AuditKeys,
    org_id: &str,
    from: Anchor,
    upto: Option<i64>,
    keep: &std::collections::HashSet<i64>,
) -> ServiceResult<Scan> {
    let mut q = audit_record::Entity::find()
        .filter(audit_record::Column::OrgId.eq(org_id))
        .filter(audit_record::Column::Seq.gt(from.seq));
    if let Some(upto) = upto {
        q = q.filter(audit_record::Column::Seq.lte(upto));
    }
    let mut pages = q.order_by_asc(audit_record::Column::Seq).paginate(db, 1000);
    let (mut prev_hash, mut prev_mac, mut expected) = (from.hash, from.mac, from.seq + 1);
    let mut out = Scan { last: None, through: from.seq, first_bad: None, at: Default::default() };
    while let Some(batch) = pages.fetch_and_next().await? {
        for r in batch {
            let ok = r.seq == expected
                && r.prev_hash == prev_hash
                && compute_hash(&prev_hash, &r) == r.hash
                && same_mac(&link_mac(&keys.mac, &prev_mac, &r.hash), &r.mac);
            if !ok {
                out.first_bad = Some(expected);
                return Ok(out);
            }
            prev_hash = r.hash.clone();
            prev_mac = r.mac.clone();
            expected += 1;
            out.through = r.seq;
            if keep.contains(&r.seq) {
                out.at.insert(r.seq, r.clone());
            }
            out.last = Some(r);
        }
    }
    if let Some(upto) = upto
        && out.through < upto
    {
        out.first_bad = Some(out.through + 1);
    }
    Ok(out)
}

/// The record at `upto` if the MAC chain verifies up to it, checked from the
/// newest stored checkpoint below it that holds (signature and record match)
/// or, failing that, from the start. Checkpoints are signed only over verified
/// chains, so by induction the prefix below a holding checkpoint is sound.
async fn verified_head<C: ConnectionTrait>(
    db: &C,
    keys: &AuditKeys,
    org_id: &str,
    upto: i64,
) -> ServiceResult<Option<audit_record::Model>> {
    let mut from = Anchor::genesis();
    let newest = audit_checkpoint::Entity::find()
        .filter(audit_checkpoint::Column::OrgId.eq(org_id))
        .filter(audit_checkpoint::Column::Seq.lte(upto))
        .order_by_desc(audit_checkpoint::Column::Seq)
        .one(db)
        .await?;
    if let Some(cp) = newest {
        let record = audit_record::Entity::find()
            .filter(audit_record::Column::OrgId.eq(org_id))
            .filter(audit_record::Column::Seq.eq(cp.seq))
            .one(db)
            .await?;
        if let Some(record) = record
            && Checkpoint::of(&cp).holds_for(keys, org_id, &record)
        {
            if record.seq == upto {
                return Ok(Some(record));
            }
            from = Anchor { seq: record.seq, hash: record.hash, mac: record.mac };
        }
    }
    let found = scan(db, keys, org_id, from, Some(upto), &Default::default()).await?;
    Ok(if found.first_bad.is_none() { found.last.filter(|r| r.seq == upto) } else { None })
}

/// Seals the records written before the keyed chain existed: for every
/// organisation, re-checks the SHA-256 chain and sets each record's MAC, up to
/// the first record that does not verify (which, with everything after it,
/// stays without a MAC and so is reported by [`verify`]). Called only by the
/// process that applies migration `m0012_keyed_audit_chain`, in the same step.
pub async fn upgrade<C: ConnectionTrait>(db: &C) -> ServiceResult<()> {
    let mut orgs = organization::Entity::find().order_by_asc(organization::Column::Id).paginate(db, 100);
    while let Some(batch) = orgs.fetch_and_next().await? {
        for org in batch {
            let keys = keys()?;
            let (mut prev_hash, mut prev_mac, mut expected) = (GENESIS.to_string(), GENESIS.to_string(), 1);
            let mut intact = true;
            let mut records = audit_record::Entity::find()
                .filter(audit_record::Column::OrgId.eq(&org.id))
                .order_by_asc(audit_record::Column::Seq)
                .paginate(db, 1000);
            'records: while let Some(rows) = records.fetch_and_next().await? {
                for r in rows {
                    if r.seq != expected || r.prev_hash != prev_hash || compute_hash(&prev_hash, &r) != r.hash {
                        tracing::error!(org_id = %org.id, seq = expected, "audit chain broken before the upgrade; left unsealed from here");
                        intact = false;
                        break 'records;
                    }
                    let mac = link_mac(&keys.mac, &prev_mac, &r.hash);
                    audit_record::Entity::update_many()
                        .col_expr(audit_record::Column::Mac, sea_orm::sea_query::Expr::value(mac.clone()))
                        .filter(audit_record::Column::Id.eq(r.id))
                        .exec(db)
                        .await?;
                    prev_hash = r.hash;
                    prev_mac = mac;
                    expected += 1;
                }
            }
            if intact && expected - 1 == org.audit_seq && prev_hash == org.audit_head {
                organization::Entity::update_many()
                    .col_expr(organization::Column::AuditHeadMac, sea_orm::sea_query::Expr::value(prev_mac))
                    .filter(organization::Column::Id.eq(&org.id))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Ids per `IN (…)` list and rows per multi-row insert in batch work.
pub const BATCH_IDS: usize = 500;

/// Filters for reading the trail.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub request_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

fn filtered(org_id: &str, f: &AuditFilter) -> sea_orm::Select<audit_record::Entity> {
    let mut q = audit_record::Entity::find().filter(audit_record::Column::OrgId.eq(org_id));
    if let Some(a) = &f.action {
        q = q.filter(audit_record::Column::Action.eq(a.as_str()));
    }
    if let Some(a) = &f.actor_id {
        q = q.filter(audit_record::Column::ActorId.eq(a.as_str()));
    }
    if let Some(r) = &f.request_id {
        q = q.filter(audit_record::Column::RequestId.eq(r.as_str()));
    }
    if let Some(t) = f.since {
        q = q.filter(audit_record::Column::At.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(audit_record::Column::At.lt(t));
    }
    q
}

/// A page of the trail, newest first.
pub struct AuditPage {
    pub records: Vec<audit_record::Model>,
    pub has_next_page: bool,
}

/// Reads the trail, newest first, `first` records after the cursor `after_seq`
/// (records with a lower sequence number). Requires VIEW on MANAGE_ACCESS.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    filter: &AuditFilter,
    first: u64,
    after_seq: Option<i64>,
) -> ServiceResult<AuditPage> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let mut q = filtered(&access.org_id, filter);
    if let Some(seq) = after_seq {
        q = q.filter(audit_record::Column::Seq.lt(seq));
    }
    let mut records = q.order_by_desc(audit_record::Column::Seq).limit(first + 1).all(db).await?;
    let has_next_page = records.len() as u64 > first;
    records.truncate(first as usize);
    Ok(AuditPage { records, has_next_page })
}

/// The actions the organisation's trail holds, in alphabetical order: what
/// an audit filter can usefully name. Requires VIEW on MANAGE_ACCESS.
pub async fn actions<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Vec<String>> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let rows: Vec<String> = audit_record::Entity::find()
        .select_only()
        .column(audit_record::Column::Action)
        .distinct()
        .filter(audit_record::Column::OrgId.eq(&access.org_id))
        .order_by_asc(audit_record::Column::Action)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}

/// Who ended a request by rejecting or cancelling it, from its audit record:
/// `(actor kind, actor id)`. Anyone who may see the request may see this, as
/// they see its approvers.
pub async fn decided_by<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    req: &entity::request::Model,
) -> ServiceResult<Option<(ActorKind, String)>> {
    access.require_request(req)?;
    let (org_id, request_id) = (&access.org_id, &req.id);
    let row = audit_record::Entity::find()
        .filter(audit_record::Column::OrgId.eq(org_id))
        .filter(audit_record::Column::RequestId.eq(request_id))
        .filter(audit_record::Column::Action.is_in(["REQUEST_REJECTED", "REQUEST_CANCELLED"]))
        .order_by_desc(audit_record::Column::Seq)
        .one(db)
        .await?;
    Ok(row.map(|r| (r.actor_kind, r.actor_id)))
}

/// The most records one export returns.
pub const EXPORT_MAX: u64 = 100_000;

/// What an export carries: the records (oldest first) and the checkpoints
/// that vouch for them — the stored ones in the exported range and, when the
/// MAC chain verifies up to the last exported record, one signed now for it.
pub struct Export {
    pub org_id: String,
    pub records: Vec<audit_record::Model>,
    pub checkpoints: Vec<Checkpoint>,
}

/// Reads the records and checkpoints of an export. Requires VIEW on MANAGE_ACCESS.
pub async fn export<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    filter: &AuditFilter,
    now: DateTime<Utc>,
) -> ServiceResult<Export> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let keys = keys()?;
    let org_id = access.org_id.clone();
    let records = filtered(&org_id, filter).order_by_asc(audit_record::Column::Seq).limit(EXPORT_MAX).all(db).await?;
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(Export { org_id, records, checkpoints: Vec::new() });
    };
    let mut checkpoints: Vec<Checkpoint> = audit_checkpoint::Entity::find()
        .filter(audit_checkpoint::Column::OrgId.eq(&org_id))
        .filter(audit_checkpoint::Column::Seq.gte(first.seq))
        .filter(audit_checkpoint::Column::Seq.lte(last.seq))
        .order_by_asc(audit_checkpoint::Column::Seq)
        .all(db)
        .await?
        .iter()
        .map(Checkpoint::of)
        .collect();
    if checkpoints.last().map(|c| c.seq) != Some(last.seq) {
        match verified_head(db, keys, &org_id, last.seq).await? {
            Some(head) => checkpoints.push(Checkpoint::sign(keys, &org_id, &head, now)),
            None => tracing::warn!(org_id, seq = last.seq, "audit chain does not verify; export left unsigned"),
        }
    }
    Ok(Export { org_id, records, checkpoints })
}

/// The CSV columns, in order. `checkpoint_at` and `checkpoint_signature` are
/// set on the rows a checkpoint vouches for. `actor_name` is who acted, as a
/// person reads it; it is not part of the chain (`actor_id` is).
pub const CSV_HEADER: [&str; 16] = [
    "seq",
    "at",
    "actor_name",
    "actor_kind",
    "actor_id",
    "action",
    "target",
    "request_id",
    "before",
    "after",
    "prev_hash",
    "hash",
    "mac",
    "org_id",
    "checkpoint_at",
    "checkpoint_signature",
];

/// The trail as CSV, oldest first, with both links and the checkpoints, so
/// the export can be verified offline (`countersign audit verify`).
pub async fn export_csv<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    filter: &AuditFilter,
    now: DateTime<Utc>,
) -> ServiceResult<String> {
    let export = export(db, access, filter, now).await?;
    let by_seq: std::collections::HashMap<i64, &Checkpoint> = export.checkpoints.iter().map(|c| (c.seq, c)).collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER).map_err(ServiceError::internal)?;
    let mut names = names::NameBook::default();
    for r in &export.records {
        let at = at_text(r.at);
        let seq = r.seq.to_string();
        let cp = by_seq.get(&r.seq);
        let actor_name = names.actor(db, r.actor_kind, &r.actor_id).await?;
        w.write_record([
            seq.as_str(),
            at.as_str(),
            actor_name.as_str(),
            r.actor_kind.as_str(),
            &r.actor_id,
            &r.action,
            r.target.as_deref().unwrap_or(""),
            r.request_id.as_deref().unwrap_or(""),
            r.before.as_deref().unwrap_or(""),
            r.after.as_deref().unwrap_or(""),
            &r.prev_hash,
            &r.hash,
            &r.mac,
            &r.org_id,
            cp.map(|c| c.at.as_str()).unwrap_or(""),
            cp.map(|c| c.signature.as_str()).unwrap_or(""),
        ])
        .map_err(ServiceError::internal)?;
    }
    let bytes = w.into_inner().map_err(ServiceError::internal)?;
    String::from_utf8(bytes).map_err(ServiceError::internal)
}

/// The JSON export's format tag.
pub const JSON_FORMAT: &str = "countersign-audit-export/v1";

/// One record in the JSON export.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct JsonRecord {
    pub seq: i64,
    pub at: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub mac: String,
}

/// The JSON export: the records, oldest first, and the signed checkpoints.
/// `public_key` says which key the server signed with; a verifier must use
/// the key it got from the operator, never this one.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct JsonExport {
    pub format: String,
    pub org_id: String,
    pub public_key: String,
    pub records: Vec<JsonRecord>,
    pub checkpoints: Vec<Checkpoint>,
}

/// The trail as JSON ([`JsonExport`]).
pub async fn export_json<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    filter: &AuditFilter,
    now: DateTime<Utc>,
) -> ServiceResult<String> {
    let export = export(db, access, filter, now).await?;
    let out = JsonExport {
        format: JSON_FORMAT.to_string(),
        org_id: export.org_id,
        public_key: hex::encode(keys()?.signing.verifying_key().to_bytes()),
        records: export
            .records
            .into_iter()
            .map(|r| JsonRecord {
                seq: r.seq,
                at: at_text(r.at),
                actor_kind: r.actor_kind.to_string(),
                actor_id: r.actor_id,
                action: r.action,
                target: r.target,
                request_id: r.request_id,
                before: r.before,
                after: r.after,
                prev_hash: r.prev_hash,
                hash: r.hash,
                mac: r.mac,
            })
            .collect(),
        checkpoints: export.checkpoints,
    };
    serde_json::to_string_pretty(&out).map_err(ServiceError::internal)
}

/// The outcome of re-checking a chain.
#[derive(Clone, Debug)]
pub struct Verification {
    pub valid: bool,
    pub records: i64,
    /// The first record whose hash, MAC, link or checkpoint does not match, if any.
    pub first_invalid_seq: Option<i64>,
    /// Stored checkpoints whose signature and record hold.
    pub checkpoints: i64,
}

/// Recomputes every hash and MAC of the organisation's chain and checks the
/// links, the head kept on the organisation and every stored checkpoint.
/// Requires VIEW on MANAGE_ACCESS.
pub async fn verify<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Verification> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let keys = keys()?;
    let org_id = access.org_id.as_str();
    let org = organization::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    let checkpoints = audit_checkpoint::Entity::find()
        .filter(audit_checkpoint::Column::OrgId.eq(org_id))
        .order_by_asc(audit_checkpoint::Column::Seq)
        .all(db)
        .await?;
    let keep = checkpoints.iter().map(|c| c.seq).collect();
    let found = scan(db, keys, org_id, Anchor::genesis(), None, &keep).await?;
    let mut first_bad = found.first_bad;
    let count = found.through;
    if first_bad.is_none() {
        let (head_hash, head_mac) =
            found.last.as_ref().map(|r| (r.hash.as_str(), r.mac.as_str())).unwrap_or((GENESIS, GENESIS));
        if count != org.audit_seq || head_hash != org.audit_head || !same_mac(head_mac, &org.audit_head_mac) {
            // Records were deleted from the end of the chain, or the head was moved.
            first_bad = Some(count + 1);
        }
    }
    let mut holding = 0;
    for cp in &checkpoints {
        let bad_at = match found.at.get(&cp.seq) {
            Some(record) if Checkpoint::of(cp).holds_for(keys, org_id, record) => {
                holding += 1;
                continue;
            }
            // A checkpoint past the verified records: those it vouched for
            // are missing (a truncated chain) or do not verify.
            None if cp.seq > found.through => found.through + 1,
            _ => cp.seq,
        };
        first_bad = Some(first_bad.map_or(bad_at, |bad| bad.min(bad_at)));
    }
    let records = match first_bad {
        Some(bad) => bad - 1,
        None => count,
    };
    Ok(Verification { valid: first_bad.is_none(), records, first_invalid_seq: first_bad, checkpoints: holding })
}

/// The audit records of one request, oldest first: for those who may read
/// the audit trail, within the caller's query window.
pub async fn for_request<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    request_id: &str,
) -> ServiceResult<Vec<audit_record::Model>> {
    access.require_audit_view()?;
    let mut q = audit_record::Entity::find()
        .filter(audit_record::Column::OrgId.eq(&access.org_id))
        .filter(audit_record::Column::RequestId.eq(request_id));
    let (start, end) = access.query_window();
    if let Some(t) = start {
        q = q.filter(audit_record::Column::At.gte(t));
    }
    if let Some(t) = end {
        q = q.filter(audit_record::Column::At.lt(t));
    }
    Ok(q.order_by_asc(audit_record::Column::Seq).all(db).await?)
}

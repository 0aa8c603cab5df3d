//! Offline verification of an exported audit trail (`countersign audit
//! verify EXPORT --public-key K`), with nothing but the export and the
//! deployment's Ed25519 verification key: no database, no server, no master key.
//!
//! It cannot recompute the keyed MACs (that needs the master key). What it
//! checks instead, and what that proves:
//! - the records form one contiguous chain: consecutive sequence numbers,
//!   each `prev_hash` the previous record's `hash` (64 zeros before seq 1),
//!   and each `hash` the SHA-256 of `prev_hash` and the record's fields
//!   ([`audit::hash_fields`]) — so no record can be changed, dropped,
//!   inserted or reordered without breaking a hash from there on;
//! - every checkpoint's Ed25519 signature verifies under the given key, and
//!   names exactly the record at its sequence number (`hash` and `mac`);
//! - every record is at or before a valid checkpoint. Since a record's hash
//!   chains all earlier ones, a valid checkpoint vouches for every record up
//!   to it; the server signs one only after checking the MAC chain, so a
//!   trail re-forged in the database cannot get a valid signature.
//!
//! It does not prove that the trail is complete after the newest checkpoint
//! it holds (a rollback to an earlier state exports and verifies as that
//! earlier state): compare with earlier exports. A filtered export verifies
//! only if the filter leaves a contiguous range (a time range does; filtering
//! by action or actor leaves gaps, which are reported).

use super::audit::{self, Checkpoint, Fields, GENESIS, JsonExport};
use ed25519_dalek::VerifyingKey;

/// One exported record, whatever the file's format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: i64,
    pub at: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target: String,
    pub request_id: String,
    pub before: String,
    pub after: String,
    pub prev_hash: String,
    pub hash: String,
    pub mac: String,
}

/// A parsed export.
#[derive(Clone, Debug)]
pub struct ExportFile {
    pub org_id: String,
    pub records: Vec<Record>,
    pub checkpoints: Vec<Checkpoint>,
}

/// Why an export does not verify: the first bad record (when one can be
/// named) and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .seq { Some(seq) => format!("record seq {seq}: {}", .reason), None => .reason.clone() })]
pub struct Failure {
    pub seq: Option<i64>,
    pub reason: String,
}

impl Failure {
    fn file(reason: impl Into<String>) -> Self {
        Failure { seq: None, reason: reason.into() }
    }
    fn at(seq: i64, reason: impl Into<String>) -> Self {
        Failure { seq: Some(seq), reason: reason.into() }
    }
}

/// What a verified export holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub org_id: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub records: usize,
    pub checkpoints: usize,
}

/// Parses a verification key: 64 hex characters (32 bytes), as `countersign
/// audit public-key` prints it.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, Failure> {
    let bytes = hex::decode(text.trim()).map_err(|_| Failure::file("the public key must be 64 hex characters"))?;
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|_| Failure::file("the public key must be 64 hex characters (32 bytes)"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Failure::file("the public key is not an Ed25519 point"))
}

/// Parses a JSON export (it starts with `{`) or a CSV export.
pub fn parse(text: &str) -> Result<ExportFile, Failure> {
    if text.trim_start().starts_with('{') { parse_json(text) } else { parse_csv(text) }
}

fn parse_json(text: &str) -> Result<ExportFile, Failure> {
    let export: JsonExport =
        serde_json::from_str(text).map_err(|e| Failure::file(format!("not a JSON audit export: {e}")))?;
    if export.format != audit::JSON_FORMAT {
        return Err(Failure::file(format!("unknown export format {:?}", export.format)));
    }
    let records = export
        .records
        .into_iter()
        .map(|r| Record {
            seq: r.seq,
            at: r.at,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            action: r.action,
            target: r.target.unwrap_or_default(),
            request_id: r.request_id.unwrap_or_default(),
            before: r.before.unwrap_or_default(),
            after: r.after.unwrap_or_default(),
            prev_hash: r.prev_hash,
            hash: r.hash,
            mac: r.mac,
        })
        .collect();
    Ok(ExportFile { org_id: export.org_id, records, checkpoints: export.checkpoints })
}

fn parse_csv(text: &str) -> Result<ExportFile, Failure> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| Failure::file(format!("not a CSV audit export: {e}")))?.clone();
    if header.iter().collect::<Vec<_>>() != audit::CSV_HEADER {
        return Err(Failure::file("not a CSV audit export: unexpected columns"));
    }
    // Columns by name: `actor_name` is for people reading the file and is
    // not part of the chain (a person may be renamed; their id is bound).
    let at = |name: &str| audit::CSV_HEADER.iter().position(|h| *h == name).unwrap_or(usize::MAX);
    let (mut org_id, mut records, mut checkpoints) = (None::<String>, Vec::new(), Vec::new());
    for (line, row) in reader.records().enumerate() {
        let row = row.map_err(|e| Failure::file(format!("CSV row {}: {e}", line + 1)))?;
        let col = |name: &str| row.get(at(name)).unwrap_or("").to_string();
        let seq: i64 =
            col("seq").parse().map_err(|_| Failure::file(format!("CSV row {}: seq is not a number", line + 1)))?;
        match &org_id {
            None => org_id = Some(col("org_id")),
            Some(o) if *o != col("org_id") => return Err(Failure::at(seq, "org_id differs from the first record's")),
            Some(_) => {}
        }
        let record = Record {
            seq,
            at: col("at"),
            actor_kind: col("actor_kind"),
            actor_id: col("actor_id"),
            action: col("action"),
            target: col("target"),
            request_id: col("request_id"),
            before: col("before"),
            after: col("after"),
            prev_hash: col("prev_hash"),
            hash: col("hash"),
            mac: col("mac"),
        };
        if !col("checkpoint_signature").is_empty() {
            checkpoints.push(Checkpoint {
                seq,
                at: col("checkpoint_at"),
                head_hash: record.hash.clone(),
                head_mac: record.mac.clone(),
                signature: col("checkpoint_signature"),
            });
        }
        records.push(record);
    }
    Ok(ExportFile { org_id: org_id.unwrap_or_default(), records, checkpoints })
}

/// Verifies a parsed export against `key`; names the first bad record.
pub fn verify(file: &ExportFile, key: &VerifyingKey) -> Result<Verified, Failure> {
    let (Some(first), Some(last)) = (file.records.first(), file.records.last()) else {
        return Err(Failure::file("the export holds no records"));
    };
    let mut failures: Vec<Failure> = Vec::new();
    // The chain: contiguous, linked, each hash over its fields.
    let mut prev: Option<&Record> = None;
    for r in &file.records {
        let link = match prev {
            Some(p) if r.seq != p.seq + 1 => {
                Some(format!("follows seq {} (a gap or a reordering; verify an export of a contiguous range)", p.seq))
            }
            Some(p) if r.prev_hash != p.hash => Some("prev_hash is not the previous record's hash".to_string()),
            None if r.seq < 1 => Some("sequence numbers start at 1".to_string()),
            None if r.seq == 1 && r.prev_hash != GENESIS => Some("the first record must chain from zeros".to_string()),
            _ => None,
        };
        if let Some(reason) = link {
            failures.push(Failure::at(r.seq, reason));
            break;
        }
        let fields = Fields {
            org_id: &file.org_id,
            seq: r.seq,
            actor_kind: &r.actor_kind,
            actor_id: &r.actor_id,
            action: &r.action,
            target: &r.target,
            before: &r.before,
            after: &r.after,
            request_id: &r.request_id,
            at: &r.at,
        };
        if audit::hash_fields(&r.prev_hash, &fields) != r.hash {
            failures.push(Failure::at(r.seq, "its fields do not match its hash (the record was altered)"));
            break;
        }
        prev = Some(r);
    }
    // The checkpoints: each signed under `key` and naming its record.
    let by_seq: std::collections::HashMap<i64, &Record> = file.records.iter().map(|r| (r.seq, r)).collect();
    let mut covered_to: Option<i64> = None;
    let mut invalid: Vec<(i64, &str)> = Vec::new();
    for cp in &file.checkpoints {
        let why = match by_seq.get(&cp.seq) {
            None => Some("names a record outside the export"),
            Some(r) if r.hash != cp.head_hash || r.mac != cp.head_mac => Some("does not match its record"),
            Some(_)
                if !audit::signature_verifies(
                    key,
                    &file.org_id,
                    cp.seq,
                    &cp.head_hash,
                    &cp.head_mac,
                    &cp.at,
                    &cp.signature,
                ) =>
            {
                Some("its signature does not verify under this public key")
            }
            Some(_) => None,
        };
        match why {
            Some(why) => invalid.push((cp.seq, why)),
            None => covered_to = covered_to.max(Some(cp.seq)),
        }
    }
    let invalid_note = invalid
        .first()
        .map(|(seq, why)| format!("; {} checkpoint(s) invalid, the first at seq {seq}: {why}", invalid.len()))
        .unwrap_or_default();
    for (seq, why) in &invalid {
        if by_seq.contains_key(seq) {
            failures.push(Failure::at(*seq, format!("its checkpoint {why}")));
        }
    }
    // Coverage: every record at or before a valid checkpoint.
    let uncovered = file.records.iter().find(|r| covered_to.is_none_or(|to| r.seq > to));
    if let Some(r) = uncovered {
        failures.push(Failure::at(r.seq, format!("not covered by a valid signed checkpoint{invalid_note}")));
    }
    if let Some(first_bad) = failures.into_iter().min_by_key(|f| f.seq.unwrap_or(i64::MIN)) {
        return Err(first_bad);
    }
    Ok(Verified {
        org_id: file.org_id.clone(),
        first_seq: first.seq,
        last_seq: last.seq,
        records: file.records.len(),
        checkpoints: file.checkpoints.len(),
    })
}

/// Reads, parses and verifies an export file's text.
pub fn verify_text(text: &str, public_key: &str) -> Result<Verified, Failure> {
    let key = parse_public_key(public_key)?;
    verify(&parse(text)?, &key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;
    use ed25519_dalek::Signer;

    /// A chain of `n` records of organisation `o`, starting after `from`.
    fn chain(o: &str, from: i64, n: i64) -> Vec<Record> {
        let mut prev = GENESIS.to_string();
        let mut out = Vec::new();
        for seq in from + 1..=from + n {
            let mut r = Record {
                seq,
                at: format!("2026-01-01T00:00:{seq:02}.000000Z"),
                actor_kind: "USER".into(),
                actor_id: "u".into(),
                action: "A".into(),
                target: String::new(),
                request_id: String::new(),
                before: String::new(),
                after: format!("{{\"n\":{seq}}}"),
                prev_hash: prev.clone(),
                hash: String::new(),
                mac: format!("{seq:064}"),
            };
            let f = Fields {
                org_id: o,
                seq,
                actor_kind: &r.actor_kind,
                actor_id: &r.actor_id,
                action: &r.action,
                target: "",
                before: "",
                after: &r.after,
                request_id: "",
                at: &r.at,
            };
            r.hash = audit::hash_fields(&prev, &f);
            prev = r.hash.clone();
            out.push(r);
        }
        out
    }

    fn checkpoint(key: &ed25519_dalek::SigningKey, o: &str, r: &Record, mac: &str) -> Checkpoint {
        let at = "2026-01-02T00:00:00.000000Z".to_string();
        let sig = key.sign(&audit::statement(o, r.seq, &r.hash, mac, &at));
        Checkpoint {
            seq: r.seq,
            at,
            head_hash: r.hash.clone(),
            head_mac: mac.into(),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    #[test]
    fn checkpoints_bind_their_record_and_cover_what_precedes_them() {
        let master = MasterKey::from_hex(&"11".repeat(32)).unwrap();
        let (sk, vk) = (master.audit_signing_key(), master.audit_signing_key().verifying_key());
        let records = chain("o", 0, 5);
        let at3 = checkpoint(&sk, "o", &records[2], &records[2].mac);
        let at5 = checkpoint(&sk, "o", &records[4], &records[4].mac);
        let file = |cps: Vec<Checkpoint>| ExportFile { org_id: "o".into(), records: records.clone(), checkpoints: cps };
        assert_eq!(verify(&file(vec![at3.clone(), at5.clone()]), &vk).unwrap().checkpoints, 2);
        // Records after the newest checkpoint are not vouched for.
        assert_eq!(verify(&file(vec![at3.clone()]), &vk).unwrap_err().seq, Some(4));
        // A signature over another MAC than the record's does not count.
        let wrong_mac = checkpoint(&sk, "o", &records[4], &"f".repeat(64));
        let e = verify(&file(vec![at3.clone(), wrong_mac]), &vk).unwrap_err();
        assert_eq!(e.seq, Some(4), "{e}");
        // Nor one for another organisation.
        let elsewhere = ExportFile { org_id: "p".into(), ..file(vec![at5.clone()]) };
        assert!(verify(&elsewhere, &vk).is_err());
        // A time-ranged export starting mid-chain verifies up to its checkpoint.
        let mid = ExportFile { org_id: "o".into(), records: records[2..].to_vec(), checkpoints: vec![at5] };
        assert_eq!(verify(&mid, &vk).unwrap().first_seq, 3);
        assert!(parse_public_key("zz").is_err());
        assert!(parse_public_key(&hex::encode(vk.to_bytes())).is_ok());
    }
}

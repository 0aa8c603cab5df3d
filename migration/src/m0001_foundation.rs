//! Identity, organisations, membership, grants, requests and the audit trail.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id(name: &'static str) -> ColumnDef {
    string_len(name, 64).primary_key().take()
}

fn at(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}

fn at_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}

fn index(table: &'static str, name: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(*c);
    }
    i.take()
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .col(id("id"))
                .col(string_len_uniq("email", 320))
                .col(string_len("name", 200))
                .col(text("password_hash"))
                .col(string_len_null("totp_secret", 128))
                .col(at_null("totp_enabled_at"))
                .col(big_integer_null("totp_last_step"))
                .col(at("created_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sessions")
                .col(id("id"))
                .col(string_len_uniq("token_hash", 64))
                .col(string_len("user_id", 64))
                .col(at("created_at"))
                .col(at("last_used_at"))
                .col(boolean("two_factor_verified"))
                .col(at_null("ended_at"))
                .take(),
        )
        .await?;
        m.create_index(index("sessions", "idx_sessions_user", &["user_id"])).await?;
        m.create_table(
            Table::create()
                .table("sign_in_failures")
                .col(big_pk_auto("id"))
                .col(string_len("key", 400))
                .col(at("at"))
                .take(),
        )
        .await?;
        m.create_index(index("sign_in_failures", "idx_sign_in_failures_key_at", &["key", "at"])).await?;
        m.create_table(
            Table::create()
                .table("organizations")
                .col(id("id"))
                .col(string_len("name", 200))
                .col(string_len("owner_user_id", 64))
                .col(integer("session_idle_timeout_secs"))
                .col(big_integer("audit_seq"))
                .col(string_len("audit_head", 64))
                .col(at("created_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("accounts")
                .col(id("id"))
                .col(string_len("org_id", 64))
                .col(string_len("name", 200))
                .col(at("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index("accounts", "idx_accounts_org", &["org_id"])).await?;
        m.create_table(
            Table::create()
                .table("members")
                .col(id("id"))
                .col(string_len("org_id", 64))
                .col(string_len("user_id", 64))
                .col(string_len("roles", 200))
                .col(boolean("is_owner"))
                .col(string_len("status", 16))
                .col(at("created_at"))
                .col(at_null("removed_at"))
                .take(),
        )
        .await?;
        m.create_index(index("members", "uq_members_org_user", &["org_id", "user_id"]).unique().take()).await?;
        m.create_index(index("members", "idx_members_user", &["user_id"])).await?;
        m.create_table(
            Table::create()
                .table("permission_grants")
                .col(id("id"))
                .col(string_len("org_id", 64))
                .col(string_len("member_id", 64))
                .col(string_len("workflow", 32))
                .col(string_len("action", 16))
                .col(string_len_null("account_id", 64))
                .col(at("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index("permission_grants", "idx_grants_member", &["member_id"])).await?;
        m.create_table(
            Table::create()
                .table("requests")
                .col(id("id"))
                .col(string_len("org_id", 64))
                .col(string_len("workflow", 32))
                .col(string_len("operation", 64))
                .col(text("payload"))
                .col(string_len("requester_kind", 16))
                .col(string_len("requester_id", 64))
                .col(string_len("status", 24))
                .col(integer("approvals_required"))
                .col(text_null("reason"))
                .col(at("created_at"))
                .col(at("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index("requests", "idx_requests_org_status", &["org_id", "status"])).await?;
        m.create_table(
            Table::create()
                .table("audit_records")
                .col(big_pk_auto("id"))
                .col(string_len("org_id", 64))
                .col(big_integer("seq"))
                .col(string_len("actor_kind", 16))
                .col(string_len("actor_id", 64))
                .col(string_len("action", 64))
                .col(text_null("target"))
                .col(text_null("before"))
                .col(text_null("after"))
                .col(string_len_null("request_id", 64))
                .col(at("at"))
                .col(string_len("prev_hash", 64))
                .col(string_len("hash", 64))
                .take(),
        )
        .await?;
        m.create_index(index("audit_records", "uq_audit_org_seq", &["org_id", "seq"]).unique().take()).await?;
        Ok(())
    }
}

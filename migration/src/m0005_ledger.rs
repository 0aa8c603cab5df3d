//! Assets with prices, holdings per account and asset, and the append-only ledger.
//! Amounts are decimal text: exact on SQLite too.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("assets")
                .col(string_len("symbol", 16).primary_key())
                .col(integer("decimals"))
                .col(boolean("is_stablecoin"))
                .col(string_len_null("usd_price", 64))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        let now =
            sea_orm_migration::sea_orm::prelude::DateTimeUtc::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        for (symbol, decimals, stable, price) in [
            ("USDC", 6, true, Some("1")),
            ("USDT", 6, true, Some("1")),
            ("DAI", 18, true, Some("1")),
            ("PYUSD", 6, true, Some("1")),
            ("BTC", 8, false, None),
            ("ETH", 18, false, None),
        ] {
            let insert = Query::insert()
                .into_table("assets")
                .columns(["symbol", "decimals", "is_stablecoin", "usd_price", "updated_at"])
                .values_panic([
                    symbol.into(),
                    decimals.into(),
                    stable.into(),
                    price.map(String::from).into(),
                    now.into(),
                ])
                .to_owned();
            m.exec_stmt(insert).await?;
        }
        m.create_table(
            Table::create()
                .table("holdings")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("account_id", 64))
                .col(string_len("asset", 16))
                .col(string_len("amount", 64))
                .col(string_len("held", 64))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_holdings_account_asset")
                .table("holdings")
                .col("account_id")
                .col("asset")
                .unique()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("ledger_entries")
                .col(big_pk_auto("id"))
                .col(string_len("org_id", 64))
                .col(string_len("account_id", 64))
                .col(string_len("asset", 16))
                .col(string_len("kind", 16))
                .col(string_len("amount", 64))
                .col(string_len("balance_after", 64))
                .col(string_len("reference", 200))
                .col(string_len_null("request_id", 64))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_ledger_account_kind_reference")
                .table("ledger_entries")
                .col("account_id")
                .col("kind")
                .col("reference")
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_ledger_account_at").table("ledger_entries").col("account_id").col("at").take(),
        )
        .await
    }
}

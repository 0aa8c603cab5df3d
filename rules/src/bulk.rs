//! Set-based writes: many rows updated by key in one statement.
//!
//! sea-orm updates one row per statement, which costs a round trip each on
//! PostgreSQL and a statement each on SQLite: a recompute that moves 10,000
//! balance alerts spent seconds there. [`update_by_key`] writes
//! `UPDATE t SET a = v.column2, … FROM (VALUES (?, ?, …), …) AS v WHERE
//! t.key = v.column1`, which both databases run (SQLite since 3.33; the
//! bundled one is newer), in chunks that stay under either one's limit on
//! bound parameters.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// Rows per statement: with a handful of columns each, far below SQLite's
/// 32,766 and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// A set-based update: `table.key = row[0]` gets `columns[i] = row[i + 1]`,
/// and every updated row also gets `constants` (the same value for all).
pub struct UpdateByKey<'a> {
    pub table: &'a str,
    pub key: &'a str,
    /// The columns each row sets, in the order of its values after the key.
    pub columns: &'a [&'a str],
    /// Columns set to one value on every row (e.g. `updated_at`).
    pub constants: Vec<(&'a str, Value)>,
}

/// Runs `update` for `rows` (each: the key, then one value per column), in
/// as few statements as the parameter limits allow. Returns the rows updated.
pub async fn update_by_key<C: ConnectionTrait>(
    db: &C,
    update: &UpdateByKey<'_>,
    rows: Vec<Vec<Value>>,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let width = update.columns.len() + 1;
    if let Some(bad) = rows.iter().find(|r| r.len() != width) {
        return Err(DbErr::Custom(format!("{}: a row of {} values for {width} columns", update.table, bad.len())));
    }
    let mut updated = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut values: Vec<Value> = Vec::with_capacity(update.constants.len() + chunk.len() * width);
        let param = |v: Value, values: &mut Vec<Value>| {
            values.push(v);
            match backend {
                DbBackend::Postgres => format!("${}", values.len()),
                _ => "?".to_string(),
            }
        };
        let mut sets: Vec<String> =
            update.columns.iter().enumerate().map(|(i, c)| format!("{c} = v.column{}", i + 2)).collect();
        for (c, v) in &update.constants {
            let p = param(v.clone(), &mut values);
            sets.push(format!("{c} = {p}"));
        }
        let tuples: Vec<String> = chunk
            .iter()
            .map(|row| {
                let ps: Vec<String> = row.iter().map(|v| param(v.clone(), &mut values)).collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let sql = format!(
            "UPDATE {t} SET {sets} FROM (VALUES {tuples}) AS v WHERE {t}.{k} = v.column1",
            t = update.table,
            k = update.key,
            sets = sets.join(", "),
            tuples = tuples.join(", "),
        );
        updated += db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?.rows_affected();
    }
    Ok(updated)
}

//! Checks on a parsed request before it is validated and run: money must be
//! exact, and introspection can be refused outright.
//!
//! async-graphql's `Decimal` scalar takes JSON numbers through `f64` and
//! rounds long strings; a treasury must not move an amount other than the
//! one written. So every `Decimal` a request carries — a variable declared
//! `Decimal`, a `Decimal` field inside an input-object variable, or a literal
//! written inline — must be a plain decimal string (`-?digits[.digits]`, at
//! most 28 significant digits, see [`is_plain_decimal`]); a variable left out
//! is judged by its default. No string anywhere may hold a NUL character: no
//! field accepts one, and PostgreSQL cannot store or even compare it. With
//! introspection switched off, a document that asks for `__schema` or
//! `__type` is refused with an error rather than answered with `null`.
//! Errors here carry no code, so the response mapping gives them `BAD_INPUT`.

use crate::domain::is_plain_decimal;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{BaseType, ExecutableDocument, Selection, SelectionSet, Type};
use async_graphql::{ServerError, ServerResult, Value, Variables};
use std::sync::Arc;

/// Installs [`Guard`] on the schema.
pub struct GuardFactory {
    pub introspection: bool,
}

impl ExtensionFactory for GuardFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard { introspection: self.introspection })
    }
}

pub struct Guard {
    introspection: bool,
}

#[async_trait::async_trait]
impl Extension for Guard {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        for (_, op) in doc.operations.iter() {
            for var in &op.node.variable_definitions {
                let default = var.node.default_value.as_ref().map(|d| &d.node);
                let Some(value) = variables.get(&var.node.name.node).or(default) else { continue };
                if has_nul(value) {
                    return Err(nul(format!("variable ${}", var.node.name.node)));
                }
                if named(&var.node.var_type.node) == "Decimal" {
                    exact(&var.node.name.node, value)?;
                } else {
                    decimal_fields(&var.node.name.node, value)?;
                }
            }
        }
        let mut sets: Vec<&SelectionSet> = doc.operations.iter().map(|(_, op)| &op.node.selection_set.node).collect();
        sets.extend(doc.fragments.values().map(|f| &f.node.selection_set.node));
        sets.iter().try_for_each(|s| literals(s))?;
        if !self.introspection {
            let mut sets: Vec<&SelectionSet> =
                doc.operations.iter().map(|(_, op)| &op.node.selection_set.node).collect();
            sets.extend(doc.fragments.values().map(|f| &f.node.selection_set.node));
            if sets.iter().any(|s| introspects(s)) {
                return Err(ServerError::new("introspection is disabled on this server", None));
            }
        }
        Ok(doc)
    }
}

/// The named type under list and non-null wrappers.
fn named(t: &Type) -> &str {
    match &t.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Whether a selection (or a nested one) asks for `__schema` or `__type`.
fn introspects(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(f) => {
            matches!(f.node.name.node.as_str(), "__schema" | "__type") || introspects(&f.node.selection_set.node)
        }
        Selection::InlineFragment(f) => introspects(&f.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// Whether `query` asks for nothing but introspection: every operation's
/// root fields (through fragments) are `__schema`, `__type` or
/// `__typename`. Such a document reads the schema, never an organisation's
/// data, so it may nest deeper (see `MAX_INTROSPECTION_DEPTH`).
pub fn introspection_only(query: &str) -> bool {
    if !query.contains("__schema") && !query.contains("__type") {
        return false;
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return false };
    fn roots_only(set: &SelectionSet, doc: &ExecutableDocument, hops: usize) -> bool {
        hops < 8
            && set.items.iter().all(|item| match &item.node {
                Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type" | "__typename"),
                Selection::InlineFragment(f) => roots_only(&f.node.selection_set.node, doc, hops + 1),
                Selection::FragmentSpread(s) => doc
                    .fragments
                    .get(&s.node.fragment_name.node)
                    .is_some_and(|f| roots_only(&f.node.selection_set.node, doc, hops + 1)),
            })
    }
    doc.operations.iter().all(|(_, op)| roots_only(&op.node.selection_set.node, &doc, 0))
}

/// Fields of input objects typed `Decimal` (kept equal to the schema by a test).
const DECIMAL_INPUT_FIELDS: &[&str] = &["amount", "approvalThresholdUsd", "dailyCapUsd", "perTransactionMaxUsd"];

/// The `Decimal` fields inside an input-object variable must be exact too.
fn decimal_fields(name: &str, value: &Value) -> ServerResult<()> {
    match value {
        Value::Object(fields) => fields.iter().try_for_each(|(k, v)| {
            if DECIMAL_INPUT_FIELDS.contains(&k.as_str()) { exact(name, v) } else { decimal_fields(name, v) }
        }),
        Value::List(items) => items.iter().try_for_each(|v| decimal_fields(name, v)),
        _ => Ok(()),
    }
}

/// Arguments of root fields typed `Decimal` (kept equal to the schema by a test).
const DECIMAL_ARGUMENTS: &[&str] = &["amount", "thresholdUsd", "usdPrice"];

/// Inline `Decimal` literals in arguments, and in input objects written inline.
fn literals(set: &SelectionSet) -> ServerResult<()> {
    set.items.iter().try_for_each(|item| match &item.node {
        Selection::Field(f) => {
            for (name, value) in &f.node.arguments {
                let name = name.node.as_str();
                if has_nul(&value.node.clone().into_const_with(|_| Ok::<_, ()>(Value::Null)).unwrap_or_default()) {
                    return Err(nul(format!("argument {name}")));
                }
                if DECIMAL_ARGUMENTS.contains(&name) { literal(name, &value.node)? } else { nested(name, &value.node)? }
            }
            literals(&f.node.selection_set.node)
        }
        Selection::InlineFragment(f) => literals(&f.node.selection_set.node),
        Selection::FragmentSpread(_) => Ok(()),
    })
}

fn nested(name: &str, value: &async_graphql_value::Value) -> ServerResult<()> {
    use async_graphql_value::Value as V;
    match value {
        V::Object(fields) => fields.iter().try_for_each(|(k, v)| {
            if DECIMAL_INPUT_FIELDS.contains(&k.as_str()) { literal(name, v) } else { nested(name, v) }
        }),
        V::List(items) => items.iter().try_for_each(|v| nested(name, v)),
        _ => Ok(()),
    }
}

fn literal(name: &str, value: &async_graphql_value::Value) -> ServerResult<()> {
    use async_graphql_value::Value as V;
    match value {
        V::Variable(_) | V::Null => Ok(()),
        V::String(s) if is_plain_decimal(s) => Ok(()),
        V::List(items) => items.iter().try_for_each(|v| literal(name, v)),
        _ => Err(ServerError::new(
            format!(
                "argument {name}: a Decimal is written as a string of digits with an optional sign and point, e.g. \"1250.50\""
            ),
            None,
        )),
    }
}

/// A `Decimal` variable must be exact: a plain decimal string, or null.
fn exact(name: &str, value: &Value) -> ServerResult<()> {
    let refuse = |why: &str| Err(ServerError::new(format!("variable ${name}: {why}"), None));
    match value {
        Value::Null => Ok(()),
        Value::List(items) => items.iter().try_for_each(|v| exact(name, v)),
        Value::String(s) if is_plain_decimal(s) => Ok(()),
        Value::String(_) => refuse("a Decimal is written as digits with an optional sign and point, e.g. \"1250.50\""),
        Value::Number(_) => refuse("send Decimal values as strings; JSON numbers are not exact"),
        _ => refuse("a Decimal is a string"),
    }
}

/// Whether a string (or an object key) anywhere inside holds a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn nul(what: String) -> ServerError {
    ServerError::new(format!("{what}: text must not contain NUL characters"), None)
}

#[cfg(test)]
mod tests {
    use super::{DECIMAL_ARGUMENTS, DECIMAL_INPUT_FIELDS, is_plain_decimal};

    #[test]
    fn decimal_arguments_match_the_schema() {
        let mut found: Vec<String> = Vec::new();
        for line in crate::graphql::sdl().lines() {
            let Some((_, args)) = line.split_once('(') else { continue };
            let Some((args, _)) = args.split_once(')') else { continue };
            for arg in args.split(", ") {
                if let Some((name, ty)) = arg.split_once(':')
                    && ty.trim().trim_end_matches('!') == "Decimal"
                {
                    found.push(name.trim().to_string());
                }
            }
        }
        found.sort();
        found.dedup();
        assert_eq!(found, DECIMAL_ARGUMENTS);
    }

    #[test]
    fn decimal_input_fields_match_the_schema() {
        let sdl = crate::graphql::sdl();
        let mut found: Vec<String> = Vec::new();
        let mut in_input = false;
        for line in sdl.lines() {
            if line.starts_with("input ") {
                in_input = true;
            } else if line.starts_with('}') {
                in_input = false;
            } else if in_input
                && let Some((field, ty)) = line.trim().split_once(':')
                && ty.trim().trim_end_matches('!') == "Decimal"
            {
                found.push(field.trim().to_string());
            }
        }
        found.sort();
        found.dedup();
        assert_eq!(found, DECIMAL_INPUT_FIELDS);
    }

    #[test]
    fn plain_decimals_only() {
        for ok in ["0", "10", "-5", "1250.50", "0.000001", "007"] {
            assert!(is_plain_decimal(ok), "{ok}");
        }
        for bad in [
            "",
            "1e3",
            "0x10",
            "1,000",
            " 10",
            "10 ",
            "NaN",
            "Infinity",
            "+1",
            "1.",
            ".5",
            "1_000",
            "1.2.3",
            "-",
            "12345678901234567890123456789",
        ] {
            assert!(!is_plain_decimal(bad), "{bad}");
        }
    }
}

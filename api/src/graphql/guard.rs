//! Checks on a parsed request before it is validated and run: no string
//! may hold a NUL character, and introspection can be refused outright.
//!
//! No field accepts a NUL character, and PostgreSQL cannot store or even
//! compare it, so a variable or an inline argument holding one anywhere is
//! refused. With introspection switched off, a document that asks for
//! `__schema` or `__type` is refused with an error rather than answered
//! with `null`. (Money needs no walk here: the `Decimal` scalar of
//! [`super::scalars`] refuses inexact values itself.) Errors here carry no
//! code, so the response mapping gives them `BAD_INPUT`.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
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
            }
        }
        let mut sets: Vec<&SelectionSet> = doc.operations.iter().map(|(_, op)| &op.node.selection_set.node).collect();
        sets.extend(doc.fragments.values().map(|f| &f.node.selection_set.node));
        sets.iter().try_for_each(|s| arguments(s))?;
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

/// Inline arguments (and input objects written inline) must be free of NUL characters too.
fn arguments(set: &SelectionSet) -> ServerResult<()> {
    set.items.iter().try_for_each(|item| match &item.node {
        Selection::Field(f) => {
            for (name, value) in &f.node.arguments {
                if has_nul(&value.node.clone().into_const_with(|_| Ok::<_, ()>(Value::Null)).unwrap_or_default()) {
                    return Err(nul(format!("argument {}", name.node)));
                }
            }
            arguments(&f.node.selection_set.node)
        }
        Selection::InlineFragment(f) => arguments(&f.node.selection_set.node),
        Selection::FragmentSpread(_) => Ok(()),
    })
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

//! GraphQL over HTTP as its specification (graphql-over-http) writes it: the
//! media type a response is written in, the status code that goes with it,
//! and queries sent by GET.
//!
//! A client that accepts `application/graphql-response+json` is told by the
//! status code whether its request failed before execution (400: the
//! document did not parse or validate, or a variable did not coerce; the
//! body then has no `data`). A client asking for `application/json` (or
//! nothing) gets 200 for every well-formed request, as GraphQL servers
//! traditionally answer. Batches are outside the specification and always
//! answer 200 with one result per operation.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchResponse, Variables};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json";

/// The media type a response is written in, from the request's `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: every well-formed request answers 200.
    Json,
    /// `application/graphql-response+json`: request errors answer 400.
    GraphqlResponse,
}

impl MediaType {
    /// `application/graphql-response+json` when the client lists it (the
    /// console and current clients do), else `application/json`.
    pub fn accepted(headers: &HeaderMap) -> Self {
        let accepts = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok());
        let listed = accepts.flat_map(|v| v.split(',')).any(|range| {
            let mime = range.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/graphql-response+json")
        });
        if listed { MediaType::GraphqlResponse } else { MediaType::Json }
    }

    /// Writes `response`'s body as this media type (its status and headers
    /// are kept; a JSON body is relabelled).
    pub fn stamp(self, mut response: Response) -> Response {
        if self == MediaType::GraphqlResponse {
            let json =
                response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(JSON.as_bytes()));
            if json {
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPHQL_RESPONSE));
            }
        }
        response
    }

    /// The executed response, with the status its media type gives it (the
    /// handler [stamps](Self::stamp) it, as it does every refusal).
    pub fn respond(self, response: BatchResponse) -> Response {
        let single = match response {
            BatchResponse::Single(r) => r,
            batch @ BatchResponse::Batch(_) => return axum::Json(batch).into_response(),
        };
        if self == MediaType::Json || !is_request_error(&single) {
            return axum::Json(single).into_response();
        }
        // A request error: no `data` entry at all, and 400.
        let mut body = serde_json::to_value(&single).unwrap_or_default();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("data");
        }
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

/// Whether a POST declares its body as JSON (`application/json`, with any
/// parameters); the specification's other request type is not offered.
pub fn is_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(JSON))
}

/// A response that failed before execution began: no data, and no error
/// points into the result (parse, validation and variable errors carry no
/// path; a resolver's error always does).
fn is_request_error(r: &async_graphql::Response) -> bool {
    r.data == async_graphql::Value::Null && !r.errors.is_empty() && r.errors.iter().all(|e| e.path.is_empty())
}

/// The parameters of a GET request, URL-encoded; `variables` and
/// `extensions` are JSON text.
#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// Why a GET request is not run.
#[derive(Debug)]
pub enum GetRefusal {
    /// 400: the parameters are malformed.
    BadInput(String),
    /// 405: GET reads; mutations (and subscriptions) are sent by POST.
    NotARead,
}

/// The GraphQL request a GET carries in its URL query string.
pub fn get_request(raw_query: &str) -> Result<async_graphql::Request, GetRefusal> {
    let params: GetParams = serde_urlencoded::from_str(raw_query)
        .map_err(|e| GetRefusal::BadInput(format!("invalid GraphQL request parameters: {e}")))?;
    let query = params.query.filter(|q| !q.is_empty()).ok_or_else(|| GetRefusal::BadInput(missing_query()))?;
    if !is_read(&query, params.operation_name.as_deref()) {
        return Err(GetRefusal::NotARead);
    }
    let json = |what: &str, text: Option<String>| -> Result<Option<serde_json::Value>, GetRefusal> {
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| GetRefusal::BadInput(format!("{what} must be JSON text: {e}")))
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = json("variables", params.variables)? {
        request = request.variables(Variables::from_json(vars));
    }
    if let Some(serde_json::Value::Object(fields)) = json("extensions", params.extensions)? {
        for (k, v) in fields {
            let value = async_graphql::Value::from_json(v).map_err(|e| GetRefusal::BadInput(e.to_string()))?;
            request.extensions.insert(k, value);
        }
    }
    Ok(request)
}

/// The message for a request without a document.
pub fn missing_query() -> String {
    "a GraphQL request needs a query (the document to run)".into()
}

/// Whether the operation a GET would run is a query. A document that does
/// not parse, or names no operation it holds, counts as a read: running it
/// only reports that error.
fn is_read(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return true };
    let ty = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    };
    !matches!(ty, Some(OperationType::Mutation | OperationType::Subscription))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gets_read_and_never_write() {
        let enc = |q: &str| serde_urlencoded::to_string([("query", q)]).unwrap_or_default();
        assert!(get_request(&enc("{ viewer { email } }")).is_ok());
        assert!(matches!(get_request(&enc("mutation { signOut }")), Err(GetRefusal::NotARead)));
        assert!(matches!(get_request(&enc("subscription { x }")), Err(GetRefusal::NotARead)));
        // With several operations, the one named decides.
        let two = "query A { viewer { email } } mutation B { signOut }";
        let named = |op: &str| serde_urlencoded::to_string([("query", two), ("operationName", op)]).unwrap_or_default();
        assert!(get_request(&named("A")).is_ok());
        assert!(matches!(get_request(&named("B")), Err(GetRefusal::NotARead)));
        assert!(matches!(get_request(""), Err(GetRefusal::BadInput(_))));
        let bad_vars = serde_urlencoded::to_string([("query", "{ a }"), ("variables", "{nope")]).unwrap_or_default();
        assert!(matches!(get_request(&bad_vars), Err(GetRefusal::BadInput(_))));
    }

    #[test]
    fn accept_lists_the_graphql_response_type() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap_or(HeaderValue::from_static("")));
            MediaType::accepted(&h)
        };
        assert_eq!(with("application/graphql-response+json, application/json"), MediaType::GraphqlResponse);
        assert_eq!(
            with("application/json;q=0.9, application/graphql-response+json;charset=utf-8"),
            MediaType::GraphqlResponse
        );
        assert_eq!(with("application/json"), MediaType::Json);
        assert_eq!(with("*/*"), MediaType::Json);
        assert_eq!(MediaType::accepted(&HeaderMap::new()), MediaType::Json);
    }
}

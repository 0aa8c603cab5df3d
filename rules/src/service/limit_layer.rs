//! The layers a risk limit is set at (organisation, API key, signer): a
//! types-only module, so authorization and names can speak of a layer
//! without depending on the limit rules ([`super::limits`]).

use super::{ServiceError, ServiceResult};
use serde::{Deserialize, Serialize};

/// A limit layer.
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[derive(Serialize, Deserialize, Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LimitLayer {
    Organization,
    ApiKey,
    Signer,
}

impl LimitLayer {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitLayer::Organization => "ORGANIZATION",
            LimitLayer::ApiKey => "API_KEY",
            LimitLayer::Signer => "SIGNER",
        }
    }

    pub fn parse(s: &str) -> ServiceResult<Self> {
        match s {
            "ORGANIZATION" => Ok(LimitLayer::Organization),
            "API_KEY" => Ok(LimitLayer::ApiKey),
            "SIGNER" => Ok(LimitLayer::Signer),
            other => Err(ServiceError::internal(format!("unknown limit layer {other:?}"))),
        }
    }
}

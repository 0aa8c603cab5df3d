//! The one way a closed set of names becomes a Rust enum.
//!
//! [`vocabulary!`] declares the enum and maps each variant to its stored,
//! wire and GraphQL name in one list, so the four used to disagree nowhere:
//! `as_str`/`parse` (and `Display`/`FromStr`) for code, serde for payloads and
//! audit JSON, `async_graphql::Enum` with the `graphql` feature, and a text
//! column type (sea-orm's `DeriveValueType`) with the `db` feature. A name
//! that does not parse is a [`ParseError`](crate::error::ParseError); read from a
//! column it is a `DbErr`, never a panic.

/// Declares a vocabulary enum: `vocabulary! { /// doc  pub enum Name { Variant => "NAME", … } }`.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident { $($(#[$vmeta:meta])* $variant:ident => $name:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(serde::Serialize, serde::Deserialize, Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
        #[cfg_attr(feature = "db", derive(sea_orm::DeriveValueType), sea_orm(value_type = "String"))]
        $vis enum $ty {
            $(
                $(#[$vmeta])*
                #[serde(rename = $name)]
                #[cfg_attr(feature = "graphql", graphql(name = $name))]
                $variant,
            )+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stored and wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }

            /// From the stored or wire name.
            pub fn parse(s: &str) -> Result<Self, $crate::error::ParseError> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err($crate::error::ParseError::new(stringify!($ty), format!("unknown value {other:?}"))),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::error::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.as_str().to_owned()
            }
        }
    };
}
pub(crate) use vocabulary;

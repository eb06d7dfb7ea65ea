//! Dagger's scalar types besides `ID` (which every object's `id`, `sync`
//! and object argument uses: see docs/dagger-schema.md).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

macro_rules! string_scalar {
    ($rust:ident, $graphql:literal) => {
        #[derive(Clone, Debug)]
        pub struct $rust(pub String);

        #[Scalar(name = $graphql)]
        impl ScalarType for $rust {
            fn parse(value: Value) -> InputValueResult<Self> {
                match value {
                    Value::String(s) => Ok($rust(s)),
                    other => Err(InputValueError::expected_type(other)),
                }
            }

            fn to_value(&self) -> Value {
                Value::String(self.0.clone())
            }
        }
    };
}

string_scalar!(Platform, "Platform");

// The legacy typed IDs, only for `Query.load<T>FromID`; everything else
// takes the built-in `ID`.
string_scalar!(ContainerId, "ContainerID");
string_scalar!(DirectoryId, "DirectoryID");
string_scalar!(ChangesetId, "ChangesetID");
string_scalar!(FileId, "FileID");
string_scalar!(SecretId, "SecretID");
string_scalar!(CacheVolumeId, "CacheVolumeID");
string_scalar!(EnvVariableId, "EnvVariableID");
string_scalar!(SocketId, "SocketID");
string_scalar!(ServiceId, "ServiceID");
string_scalar!(AddressId, "AddressID");
string_scalar!(HostId, "HostID");

/// Dagger's `Void`: what a field that returns nothing returns (always null).
#[derive(Clone, Debug)]
pub struct Void;

#[Scalar(name = "Void")]
impl ScalarType for Void {
    fn parse(_value: Value) -> InputValueResult<Self> {
        Ok(Void)
    }

    fn to_value(&self) -> Value {
        Value::Null
    }
}

/// Dagger's `JSON`: JSON text carried as a GraphQL string
/// (`returnValue(value: "\"Hello\"")`). A client that writes the value
/// as a GraphQL literal instead (`{a: 1}`) is taken at its word.
#[derive(Clone, Debug)]
pub struct Json(pub String);

impl Json {
    pub fn of(value: &serde_json::Value) -> Json {
        Json(value.to_string())
    }

    /// The value; `what` names it in the error.
    pub fn parse(&self, what: &str) -> async_graphql::Result<serde_json::Value> {
        serde_json::from_str(&self.0).map_err(|e| {
            async_graphql::Error::new(format!("{what}: {:?} is not JSON: {e}", self.0))
        })
    }
}

#[Scalar(name = "JSON")]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Json(s)),
            other => other
                .into_json()
                .map(|v| Json(v.to_string()))
                .map_err(|e| InputValueError::custom(e.to_string())),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

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

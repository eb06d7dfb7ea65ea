//! `JSONValue` (`File.asJSON`): a JSON document, read and edited as
//! Dagger's are. The text is kept as given, so `contents` answers it
//! unchanged; what is taken out of it (`field`, `asArray`) or put into it
//! (`withField`) is re-encoded compactly, keys sorted, as Go's
//! `json.Marshal` writes them.

use async_graphql::{Context, Object, Result, ID};
use serde_json::Value as Json;

use super::{lookup_json, state};
use crate::ids::Object as Value;
use crate::scalars::Json as JsonScalar;

#[derive(Clone)]
pub(crate) struct JsonValueObj(pub String);

fn error(message: String) -> async_graphql::Error {
    async_graphql::Error::new(message)
}

impl JsonValueObj {
    /// `text` after checking that it is JSON; `what` names it in the error.
    pub(crate) fn parsed(text: String, what: &str) -> Result<JsonValueObj> {
        serde_json::from_str::<Json>(&text)
            .map_err(|e| error(format!("{what} is not valid JSON: {e}")))?;
        Ok(JsonValueObj(text))
    }

    fn of(value: &Json) -> JsonValueObj {
        JsonValueObj(value.to_string())
    }

    fn value(&self) -> Result<Json> {
        serde_json::from_str(&self.0).map_err(|e| error(format!("invalid JSON: {e}")))
    }
}

#[Object(name = "JSONValue")]
impl JsonValueObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::JsonValue(self.0.clone())))
    }

    async fn contents(
        &self,
        #[graphql(default = false)] pretty: bool,
        #[graphql(default_with = "\"  \".to_owned()")] indent: String,
    ) -> Result<JsonScalar> {
        if !pretty {
            return Ok(JsonScalar(self.0.clone()));
        }
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde::Serialize::serialize(&self.value()?, &mut serializer)
            .map_err(|e| error(format!("cannot print the JSON: {e}")))?;
        Ok(JsonScalar(String::from_utf8_lossy(&out).into_owned()))
    }

    async fn with_contents(&self, contents: JsonScalar) -> Result<JsonValueObj> {
        JsonValueObj::parsed(contents.0, "withContents: the contents")
    }

    async fn as_string(&self) -> Result<String> {
        match self.value()? {
            Json::String(s) => Ok(s),
            other => Err(error(format!("value is not a string: {other}"))),
        }
    }

    async fn as_integer(&self) -> Result<i32> {
        let value = self.value()?;
        value
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| error(format!("value is not an integer (32 bits): {value}")))
    }

    async fn as_boolean(&self) -> Result<bool> {
        match self.value()? {
            Json::Bool(b) => Ok(b),
            other => Err(error(format!("value is not a boolean: {other}"))),
        }
    }

    async fn as_array(&self) -> Result<Vec<JsonValueObj>> {
        match self.value()? {
            Json::Array(items) => Ok(items.iter().map(JsonValueObj::of).collect()),
            other => Err(error(format!("value is not an array: {other}"))),
        }
    }

    async fn fields(&self) -> Result<Vec<String>> {
        match self.value()? {
            Json::Object(map) => Ok(map.keys().cloned().collect()),
            other => Err(error(format!("value is not an object: {other}"))),
        }
    }

    async fn field(&self, path: Vec<String>) -> Result<JsonValueObj> {
        let mut current = self.value()?;
        for name in &path {
            current = match current {
                Json::Object(mut map) => map
                    .remove(name)
                    .ok_or_else(|| error(format!("no such field: '{name}'")))?,
                _ => {
                    return Err(error(format!(
                        "can't lookup field '{name}' in non-object value"
                    )))
                }
            };
        }
        Ok(JsonValueObj::of(&current))
    }

    async fn new_string(&self, value: String) -> JsonValueObj {
        JsonValueObj::of(&Json::String(value))
    }

    async fn new_integer(&self, value: i32) -> JsonValueObj {
        JsonValueObj::of(&Json::from(value))
    }

    async fn new_boolean(&self, value: bool) -> JsonValueObj {
        JsonValueObj::of(&Json::Bool(value))
    }

    /// Sets `path` to `value`, making the objects on the way; what is not
    /// an object on the way (the root included) becomes one.
    async fn with_field(
        &self,
        ctx: &Context<'_>,
        path: Vec<String>,
        value: ID,
    ) -> Result<JsonValueObj> {
        let set = lookup_json(ctx, &value)?.value()?;
        let mut root = match self.value()? {
            Json::Object(map) => Json::Object(map),
            _ => Json::Object(Default::default()),
        };
        let mut current = &mut root;
        for (i, name) in path.iter().enumerate() {
            let map = match current {
                Json::Object(map) => map,
                other => {
                    *other = Json::Object(Default::default());
                    other.as_object_mut().expect("just made an object")
                }
            };
            if i + 1 == path.len() {
                map.insert(name.clone(), set);
                break;
            }
            current = map
                .entry(name.clone())
                .or_insert_with(|| Json::Object(Default::default()));
        }
        Ok(JsonValueObj::of(&root))
    }
}

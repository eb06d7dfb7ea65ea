//! Core objects crossing a function call: the caller passes a `Directory`
//! as its ID string and gets a `Container` back as one. These turn such
//! strings into engine values and back, through the session's ID table.

use crate::ids::Object;

/// An engine value that a module function can take or return.
#[derive(Clone)]
pub enum CoreValue {
    Container(engine::Container),
    Directory(engine::Directory),
    File(engine::File),
    Secret(engine::Secret),
    CacheVolume(engine::CacheVolume),
}

impl CoreValue {
    /// Dagger's name of its type.
    pub fn type_name(&self) -> &'static str {
        self.to_object().type_name()
    }

    pub(crate) fn to_object(&self) -> Object {
        match self.clone() {
            CoreValue::Container(c) => Object::Container(c),
            CoreValue::Directory(d) => Object::Directory(d),
            CoreValue::File(f) => Object::File(f),
            CoreValue::Secret(s) => Object::Secret(s),
            CoreValue::CacheVolume(c) => Object::CacheVolume(c),
        }
    }

    pub(crate) fn from_object(object: Object) -> Option<CoreValue> {
        Some(match object {
            Object::Container(c) => CoreValue::Container(c),
            Object::Directory(d) => CoreValue::Directory(d),
            Object::File(f) => CoreValue::File(f),
            Object::Secret(s) => CoreValue::Secret(s),
            Object::CacheVolume(c) => CoreValue::CacheVolume(c),
            _ => return None,
        })
    }
}

//! Shaping GraphQL responses the way Dagger does, errors above all: errors
//! as the SDKs read them. A failed exec is Dagger's `EXEC_ERROR`
//! (`cmd`, `exitCode`, `stdout`, `stderr`, all required: both SDKs raise
//! `ExecError` from them); everything else is a message that names what
//! failed. Only `errors[0]` is read, and `"extensions": null` crashes the
//! Python SDK, so it is never sent.

use async_graphql::ErrorExtensions;

/// The engine's error as a GraphQL error.
pub(crate) fn graphql(error: engine::Error) -> async_graphql::Error {
    // A step that ran out of disk is still an exec error, said first.
    let disk_full = match unshared(&error) {
        full @ engine::Error::DiskFull { .. } => format!("{full}: "),
        _ => String::new(),
    };
    match exec_failure(&error) {
        Some(engine::Error::ExecFailed {
            command,
            exit_code,
            stdout,
            stderr,
            ..
        }) => async_graphql::Error::new(format!(
            "{disk_full}process {:?} did not complete successfully: exit code: {exit_code}",
            command.join(" ")
        ))
        .extend_with(|_, e| {
            e.set("_type", "EXEC_ERROR");
            e.set("cmd", command.clone());
            e.set("exitCode", *exit_code);
            e.set("stdout", stdout.clone());
            e.set("stderr", stderr.clone());
        }),
        _ => async_graphql::Error::new(engine::report(&error)),
    }
}

/// `error` without the scheduler's sharing wrappers.
fn unshared(error: &engine::Error) -> &engine::Error {
    match error {
        engine::Error::Shared(inner) => unshared(inner),
        other => other,
    }
}

/// The exec failure inside `error`, through the solver's shared wrappers.
fn exec_failure(error: &engine::Error) -> Option<&engine::Error> {
    match error {
        engine::Error::ExecFailed { .. } => Some(error),
        engine::Error::Shared(inner) => exec_failure(inner),
        engine::Error::DiskFull { source, .. } => exec_failure(source),
        _ => None,
    }
}

/// Shapes a response the way Dagger answers: no null `extensions` (the
/// Python SDK chokes on them), syntax errors said in words, and `data: null`
/// once anything failed. Dagger's fields are non-null almost everywhere, so
/// an error there reaches the root; async-graphql stops at the first parent.
pub(crate) fn tidy(response: &mut serde_json::Value) {
    let mut failed = false;
    if let Some(errors) = response.get_mut("errors").and_then(|e| e.as_array_mut()) {
        failed = !errors.is_empty();
        for error in errors.iter_mut().filter_map(|e| e.as_object_mut()) {
            if error.get("extensions").is_some_and(|e| e.is_null()) {
                error.remove("extensions");
            }
            if let Some(message) = syntax_error(error).or_else(|| not_supported_yet(error)) {
                error.insert("message".into(), message.into());
            }
        }
    }
    if let Some(object) = response.as_object_mut() {
        let data = object.entry("data").or_insert(serde_json::Value::Null);
        if failed {
            *data = serde_json::Value::Null;
        }
    }
}

/// For a field Dagger has and tanto lacks, says so instead of "unknown".
fn not_supported_yet(error: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let message = error.get("message")?.as_str()?;
    // async-graphql: `Unknown field "dockerBuild" on type "Directory".`
    let rest = message.strip_prefix("Unknown field \"")?;
    let (field, rest) = rest.split_once('"')?;
    let type_name = rest.strip_prefix(" on type \"")?.split('"').next()?;
    crate::dagger_schema::has_field(type_name, field).then(|| {
        format!("{type_name}.{field} is part of Dagger's API, but tanto does not support it yet")
    })
}

/// The parser's multi-line, ASCII-art message as one line that says where.
fn syntax_error(error: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let message = error.get("message")?.as_str()?;
    if !message.trim_start().starts_with("-->") {
        return None;
    }
    let location = error.get("locations")?.get(0)?;
    let (line, column) = (location.get("line")?, location.get("column")?);
    let reason = message
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("= "))
        .unwrap_or("unexpected input");
    Some(format!(
        "GraphQL syntax error at line {line}, column {column}: {reason}"
    ))
}

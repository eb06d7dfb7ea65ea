//! The module-definition API as the SDKs send it, without an SDK: the
//! TypeScript transcript of dagger-modules.md §3.4, Python's explicit
//! nulls, both spellings of `TypeDefKind`, and who may return from a call.

use std::sync::Arc;

use super::model::{CachePolicy, TypeKind, TypeRef};
use super::{CallContext, FunctionCall};
use crate::test_session::Fixture;
use crate::Client;

fn registration(module: &str) -> Client {
    Client::Nested(Arc::new(CallContext::new(module, None)))
}

#[test]
fn with_kind_takes_both_spellings_and_answers_the_kind_one() {
    let f = Fixture::new();
    let client = registration("tiny");
    for kind in ["STRING", "STRING_KIND"] {
        let data = f.data(
            &client,
            &format!("{{ typeDef {{ withKind(kind: {kind}) {{ kind optional name }} }} }}"),
        );
        assert_eq!(
            data["typeDef"]["withKind"],
            serde_json::json!({"kind": "STRING_KIND", "optional": false, "name": "String"})
        );
    }
}

#[test]
fn the_typescript_registration_transcript_is_accepted() {
    let f = Fixture::new();
    let c = registration("tiny");
    let data = f.data(
        &c,
        "{ currentModule { name } currentFunctionCall { parentName } }",
    );
    assert_eq!(data["currentModule"]["name"], "tiny");
    assert_eq!(data["currentFunctionCall"]["parentName"], "");

    let object_map = f.id(
        &c,
        r#"{ sourceMap (filename: "src/index.ts",line: 7,column: 14) { id } }"#,
    );
    let container = f.id(
        &c,
        r#"{ typeDef { withObject (name: "Container") { id } } }"#,
    );
    let build_map = f.id(
        &c,
        r#"{ sourceMap (filename: "src/index.ts",line: 12,column: 3) { id } }"#,
    );
    let src_map = f.id(
        &c,
        r#"{ sourceMap (filename: "src/index.ts",line: 12,column: 9) { id } }"#,
    );
    let directory = f.id(
        &c,
        r#"{ typeDef { withObject (name: "Directory") { id } } }"#,
    );
    let build = f.id(
        &c,
        &format!(
            r#"{{ function (name: "build",returnType: "{container}") {{ withDescription (description: "Mount src in a container") {{ withSourceMap (sourceMap: "{build_map}")
      {{ withArg (name: "src",typeDef: "{directory}",description: "",sourceMap: "{src_map}") {{ withCachePolicy (policy: Default) {{ id }} }} }} }} }} }}"#
        ),
    );
    let string = f.id(&c, "{ typeDef { withKind (kind: STRING) { id } } }");
    let hello = f.id(
        &c,
        &format!(
            r#"{{ function (name: "hello",returnType: "{string}") {{ withArg (name: "name",typeDef: "{string}",description: "") {{ withCachePolicy (policy: Never, timeToLive: null) {{ id }} }} }} }}"#
        ),
    );
    let tiny = f.id(
        &c,
        &format!(
            r#"{{ typeDef {{ withObject (name: "Tiny",description: "",sourceMap: "{object_map}") {{ withFunction (function: "{build}") {{ withFunction (function: "{hello}") {{ id }} }} }} }} }}"#
        ),
    );
    let module = f.id(
        &c,
        &format!(
            r#"{{ module {{ withDescription (description: "A tiny module") {{ withObject (object: "{tiny}") {{ id }} }} }} }}"#
        ),
    );
    let returned = f.data(
        &c,
        &format!(r#"{{ currentFunctionCall {{ returnValue (value: "\"{module}\"") }} }}"#),
    );
    assert_eq!(
        returned["currentFunctionCall"]["returnValue"],
        serde_json::Value::Null
    );

    let types = f.session.module_types(&module).unwrap();
    assert_eq!(
        (types.name.as_str(), types.description.as_str()),
        ("tiny", "A tiny module")
    );
    let tiny = types.object("Tiny").unwrap();
    assert_eq!(tiny.source_map.as_ref().unwrap().line, 7);
    assert_eq!(tiny.constructor, None);
    let build = tiny.function("build").unwrap();
    assert_eq!(build.description, "Mount src in a container");
    assert_eq!(build.return_type.name.as_deref(), Some("Container"));
    assert_eq!(build.source_map.as_ref().unwrap().column, 3);
    assert_eq!(build.args[0].type_ref.name.as_deref(), Some("Directory"));
    assert_eq!(build.args[0].source_map.as_ref().unwrap().column, 9);
    assert_eq!(build.cache_policy, CachePolicy::Default);
    let hello = tiny.function("hello").unwrap();
    assert_eq!(hello.return_type, TypeRef::of(TypeKind::String));
    assert_eq!(hello.cache_policy, CachePolicy::Never);
    assert!(hello.args[0].required());

    // The same Module through node(id:), as any client may read it.
    let data = f.data(
        &c,
        &format!(
            r#"{{ node(id: "{module}") {{ ... on Module {{ name objects {{ asObject {{ name functions {{ name args {{ name typeDef {{ kind name }} }} }} }} }} }} }} }}"#
        ),
    );
    assert_eq!(
        data["node"]["objects"][0]["asObject"]["functions"][0]["args"][0],
        serde_json::json!({"name": "src", "typeDef": {"kind": "OBJECT_KIND", "name": "Directory"}})
    );
}

#[test]
fn python_explicit_nulls_and_defaults_are_taken() {
    let f = Fixture::new();
    let c = registration("stateful");
    let string = f.id(&c, "{ typeDef { withKind(kind: STRING_KIND) { id } } }");
    let list = f.id(
        &c,
        &format!(r#"{{ typeDef {{ withListOf(elementType: "{string}") {{ withOptional(optional: true) {{ id }} }} }} }}"#),
    );
    let function = f.id(
        &c,
        &format!(
            r#"{{ function(name: "say", returnType: "{string}") {{
                withArg(name: "greeting", typeDef: "{string}", description: null, defaultValue: "\"Hello\"", defaultPath: null, defaultAddress: null) {{
                withArg(name: "names", typeDef: "{list}", description: null, defaultPath: null, ignore: null, sourceMap: null, deprecated: null, defaultAddress: null) {{ id }} }} }} }}"#
        ),
    );
    let data = f.data(
        &c,
        &format!(r#"{{ node(id: "{function}") {{ ... on Function {{ args {{ name description defaultValue defaultPath ignore typeDef {{ kind optional asList {{ elementTypeDef {{ kind }} }} }} }} }} }} }}"#),
    );
    assert_eq!(
        data["node"]["args"],
        serde_json::json!([
            {"name": "greeting", "description": "", "defaultValue": "\"Hello\"", "defaultPath": "", "ignore": [],
             "typeDef": {"kind": "STRING_KIND", "optional": false, "asList": null}},
            {"name": "names", "description": "", "defaultValue": "null", "defaultPath": "", "ignore": [],
             "typeDef": {"kind": "LIST_KIND", "optional": true, "asList": {"elementTypeDef": {"kind": "STRING_KIND"}}}},
        ])
    );
    let object = f.id(
        &c,
        &format!(r#"{{ typeDef {{ withObject(name: "Stateful", description: null) {{ withField(name: "greeting", typeDef: "{string}", description: null) {{ withConstructor(function: "{function}") {{ id }} }} }} }} }}"#),
    );
    let module = f.id(
        &c,
        &format!(r#"{{ module {{ withObject(object: "{object}") {{ id }} }} }}"#),
    );
    let types = f.session.module_types(&module).unwrap();
    let stateful = types.object("Stateful").unwrap();
    assert_eq!(stateful.fields[0].name, "greeting");
    let constructor = stateful.constructor.as_ref().unwrap();
    assert_eq!(
        constructor.args[0].default_value,
        Some(serde_json::json!("Hello"))
    );
    assert!(!constructor.args[0].required());
    assert!(!constructor.args[1].required(), "optional");
    assert_eq!(
        constructor.args[1].type_ref.element.as_ref().unwrap().kind,
        TypeKind::String
    );
}

#[test]
fn a_call_is_read_through_node_and_only_its_client_returns_from_it() {
    let f = Fixture::new();
    let call = Arc::new(CallContext::new(
        "tiny",
        Some(FunctionCall {
            parent_name: "Tiny".into(),
            name: "hello".into(),
            parent: serde_json::json!({}),
            input_args: vec![("name".into(), serde_json::json!("world"))],
        }),
    ));
    let mine = Client::Nested(Arc::clone(&call));
    let data = f.data(
        &mine,
        "{ currentFunctionCall { parentName name parent inputArgs { id } } }",
    );
    let current = &data["currentFunctionCall"];
    assert_eq!(
        (current["parentName"].as_str(), current["name"].as_str()),
        (Some("Tiny"), Some("hello"))
    );
    assert_eq!(current["parent"], "{}");
    let arg = current["inputArgs"][0]["id"].as_str().unwrap();
    let data = f.data(
        &mine,
        &format!(r#"{{ node(id: "{arg}") {{ ... on FunctionCallArgValue {{ name value }} }} }}"#),
    );
    assert_eq!(
        data["node"],
        serde_json::json!({"name": "name", "value": "\"world\""})
    );

    // Another client holding the call's ID may read it, not return from it.
    let call_id = f.id(&mine, "{ currentFunctionCall { id } }");
    let other = registration("tiny");
    for client in [&other, &Client::Caller] {
        let answer = f.answer(
            client,
            &format!(r#"{{ node(id: "{call_id}") {{ ... on FunctionCall {{ returnValue(value: "1") }} }} }}"#),
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("not the requesting client's own"),
            "{message}"
        );
    }

    let answer = f.answer(&Client::Caller, "{ currentFunctionCall { name } }");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("only answered inside a module's function"),
        "{message}"
    );

    let answer = f.answer(
        &mine,
        r#"{ currentFunctionCall { returnValue(value: "not json") } }"#,
    );
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    f.data(
        &mine,
        r#"{ currentFunctionCall { returnValue(value: "\"Hello, world!\"") } }"#,
    );
    let answer = f.answer(
        &mine,
        r#"{ currentFunctionCall { returnValue(value: "2") } }"#,
    );
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("already returned"));
}

#[test]
fn the_served_module_types_are_daggers() {
    let f = Fixture::new();
    let sdl = f.session.sdl();
    let mut current = None;
    let mut checked = 0;
    let mut in_description = false;
    for line in sdl.lines() {
        if line.trim() == "\"\"\"" {
            in_description = !in_description;
        } else if in_description || line.trim_start().starts_with('"') {
            continue;
        } else if let Some(rest) = line.strip_prefix("type ") {
            current = rest.split_whitespace().next().map(str::to_owned);
        } else if line.starts_with('}') {
            current = None;
        } else if let Some(type_name) = &current {
            let module_type = [
                "Module",
                "TypeDef",
                "Function",
                "FunctionArg",
                "FunctionCall",
                "FunctionCallArgValue",
                "CurrentModule",
                "Error",
                "ErrorValue",
                "SourceMap",
                "ObjectTypeDef",
                "FieldTypeDef",
                "ListTypeDef",
                "InterfaceTypeDef",
                "EnumTypeDef",
                "EnumValueTypeDef",
                "ScalarTypeDef",
                "InputTypeDef",
            ]
            .contains(&type_name.as_str());
            let field: String = line
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if module_type && line.starts_with("\t") && !field.is_empty() {
                assert!(
                    crate::dagger_schema::has_field(type_name, &field),
                    "{type_name}.{field} is not in Dagger's schema"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 80, "only {checked} fields checked:\n{sdl}");
    for enum_value in ["STRING_KIND", "\tSTRING\n", "PerSession"] {
        assert!(sdl.contains(enum_value), "{enum_value}");
    }
}

//! `docs/api-reference.md` is the OpenAPI description (`moim openapi`) made readable: every
//! operation with its grants, parameters, body and answers, then every schema. This test
//! makes it again and fails when the file in the repository differs; with
//! `MOIM_UPDATE_DOCS=1` it writes the file instead.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_api_reference_in_docs_is_the_description_made_readable() {
    let out = Command::new(env!("CARGO_BIN_EXE_moim"))
        .arg("openapi")
        .output()
        .expect("moim openapi runs");
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let made = reference(&doc);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api-reference.md");
    if std::env::var_os("MOIM_UPDATE_DOCS").is_some() {
        std::fs::write(&file, &made).unwrap();
        return;
    }
    let kept = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        kept == made,
        "docs/api-reference.md is not the API as described now; run \
         MOIM_UPDATE_DOCS=1 cargo test --release -p moim --test api_reference"
    );
}

fn reference(doc: &Value) -> String {
    let mut md = String::new();
    md.push_str(
        "<!-- Made from `moim openapi` by crates/server/tests/api_reference.rs \
         (MOIM_UPDATE_DOCS=1 rewrites it); not edited by hand. -->\n\n",
    );
    let _ = writeln!(md, "# {} reference\n", text(&doc["info"]["title"]));
    let _ = writeln!(md, "{}\n", text(&doc["info"]["description"]));
    md.push_str(
        "The same description is served at `/api/openapi.json` and printed by \
         `moim openapi`; `docs/api.md` shows the API at work with `curl`.\n\n",
    );
    for tag in doc["tags"].as_array().into_iter().flatten() {
        let name = text(&tag["name"]);
        let _ = writeln!(md, "## {name}\n\n{}\n", text(&tag["description"]));
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == &tag["name"]))
                {
                    operation(&mut md, path, method, op);
                }
            }
        }
    }
    md.push_str("## Schemas\n\n");
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let _ = writeln!(md, "### {name}\n");
        if let Some(description) = schema["description"].as_str() {
            let _ = writeln!(md, "{}\n", one_line(description));
        }
        schema_body(&mut md, schema);
    }
    md
}

fn operation(md: &mut String, path: &str, method: &str, op: &Value) {
    let _ = writeln!(
        md,
        "### `{} {path}`\n\n`{}`: {}\n",
        method.to_uppercase(),
        text(&op["operationId"]),
        summary(op["summary"].as_str().unwrap_or_default())
    );
    if let Some(description) = op["description"].as_str() {
        let _ = writeln!(md, "{}\n", one_line(description));
    }
    let grants: Vec<String> = op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["token"].as_array().cloned().unwrap_or_default())
        .map(|g| format!("`{}`", text(&g)))
        .collect();
    if !grants.is_empty() {
        let _ = writeln!(md, "Token with {}.\n", grants.join(" or "));
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        md.push_str("| parameter | in | type | |\n|---|---|---|---|\n");
        for p in params {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} |",
                text(&p["name"]),
                text(&p["in"]),
                type_of(&p["schema"]),
                cell(p["description"].as_str().unwrap_or_default())
            );
        }
        md.push('\n');
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (kind, body) in content {
            let _ = writeln!(md, "Body ({kind}): {}\n", type_of(&body["schema"]));
        }
    }
    md.push_str("| status | answer |\n|---|---|\n");
    for (status, answer) in op["responses"].as_object().unwrap() {
        let bodies: Vec<String> = answer["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(kind, body)| format!("{} ({kind})", type_of(&body["schema"])))
            .collect();
        let _ = writeln!(
            md,
            "| {status} | {}{} |",
            cell(answer["description"].as_str().unwrap_or_default()),
            if bodies.is_empty() {
                String::new()
            } else {
                format!(": {}", bodies.join(", "))
            }
        );
    }
    md.push('\n');
}

fn schema_body(md: &mut String, schema: &Value) {
    if let Some(values) = schema["enum"].as_array() {
        let _ = writeln!(md, "One of {}.\n", enum_values(values));
        return;
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        md.push_str("One of:\n\n");
        for v in variants {
            let _ = writeln!(
                md,
                "- {}: {}",
                type_of(v),
                one_line(v["description"].as_str().unwrap_or_default())
            );
        }
        md.push('\n');
        return;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        if part.get("$ref").is_some() {
            let _ = writeln!(md, "All the fields of {}, and:\n", type_of(part));
        } else {
            schema_body(md, part);
        }
    }
    let Some(fields) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    md.push_str("| field | type | |\n|---|---|---|\n");
    for (name, field) in fields {
        let optional = if required.contains(&name.as_str()) {
            ""
        } else {
            " (optional)"
        };
        let _ = writeln!(
            md,
            "| `{name}` | {}{optional} | {} |",
            type_of(field),
            cell(field["description"].as_str().unwrap_or_default())
        );
    }
    md.push('\n');
}

/// A schema's type in a few words, with links to named schemas.
fn type_of(schema: &Value) -> String {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or(target);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(values) = schema["enum"].as_array() {
        return enum_values(values);
    }
    for combined in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema[combined].as_array() {
            let parts: Vec<String> = parts.iter().map(type_of).collect();
            return parts.join(" or ");
        }
    }
    let names: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().map(text).collect(),
        _ => return "any".to_owned(),
    };
    names
        .iter()
        .map(|t| {
            if t == "array" {
                format!("array of {}", type_of(&schema["items"]))
            } else {
                t.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn enum_values(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| format!("`{}`", text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A handler's first doc line without the route it starts with (the heading says it).
fn summary(line: &str) -> String {
    let line = one_line(line);
    let Some((_, rest)) = line.strip_prefix('`').and_then(|l| l.split_once("`: ")) else {
        return line;
    };
    let mut chars = rest.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

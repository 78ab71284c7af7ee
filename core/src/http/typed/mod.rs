//! The typed vocabulary of the HTTP edge: what handlers take and return, each piece carrying
//! its part of the OpenAPI document.
//!
//! The router is an aide [`ApiRouter`](aide::axum::ApiRouter) (see `routes.rs`): every
//! operation of the document is generated from the argument and return types of its handler —
//! the path and query types, the body type, the caller, the reply type — plus the summary,
//! error list and headers written next to the route. A handler that takes a new parameter or
//! returns another body changes the document with it; a route added without aide has no
//! operation, and a unit test that asks the router itself fails.

mod envelopes;
mod inputs;
mod outputs;
mod parameters;

pub use envelopes::*;
pub use inputs::*;
pub use outputs::*;
pub use parameters::*;

use std::marker::PhantomData;

use aide::generate::GenContext;
use aide::openapi::{self, MediaType, Operation, SchemaObject, StatusCode as DocStatus};
use aide::transform::TransformOperation;
use aide::{OperationInput, OperationOutput};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::caller::MaybeCaller;
use super::{ApiError, AppState, Code};
use crate::auth::Caller;

/// Edits an operation as JSON (aide's types are exact but long-winded for headers and links).
pub fn edit_operation(op: &mut Operation, f: impl FnOnce(&mut Value)) {
    let Ok(mut v) = serde_json::to_value(&*op) else {
        return;
    };
    f(&mut v);
    match serde_json::from_value(v) {
        Ok(edited) => *op = edited,
        Err(e) => {
            // The docs next to a route are code: a debug build (every test) stops here.
            debug_assert!(false, "an OpenAPI operation could not be edited: {e}");
            tracing::error!("an OpenAPI operation could not be edited: {e}");
        }
    }
}

/// Appends references to `components.parameters` to the operation's parameters.
fn add_parameter_refs(op: &mut Value, names: &[&str]) {
    let refs = names
        .iter()
        .map(|name| json!({"$ref": format!("#/components/parameters/{name}")}));
    match op["parameters"].as_array_mut() {
        Some(list) => list.extend(refs),
        None => op["parameters"] = Value::Array(refs.collect()),
    }
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// The shared error response (a component) of a status.
fn error_component(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        408 => "RequestTimeout",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        422 => "ValidationFailed",
        428 => "PreconditionRequired",
        429 => "TooManyRequests",
        500 => "InternalError",
        502 => "PluginFailed",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    }
}

/// What the docs next to a route add to the operation aide generated from the handler.
pub trait Doc: Sized {
    /// Applies `f` to the operation as JSON.
    fn edit(self, f: impl FnOnce(&mut Value)) -> Self;

    /// Id, tag, summary and (when not empty) description.
    fn doc(self, id: &str, tag: &str, summary: &str, description: &str) -> Self {
        self.edit(|op| {
            op["operationId"] = json!(id);
            op["tags"] = json!([tag]);
            op["summary"] = json!(summary);
            if !description.is_empty() {
                op["description"] = json!(description);
            }
        })
    }

    /// The shared error responses of these statuses (`400` → `BadRequest`, …).
    fn errors(self, statuses: &[u16]) -> Self {
        self.edit(|op| {
            for s in statuses {
                op["responses"][s.to_string()] = response_ref(error_component(*s));
            }
        })
    }

    /// A problem+json response with its own description.
    fn problem(self, status: u16, description: &str) -> Self {
        self.edit(|op| {
            op["responses"][status.to_string()] = json!({
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            });
        })
    }

    /// The description of a (generated) response.
    fn says(self, status: u16, description: &str) -> Self {
        self.edit(|op| op["responses"][status.to_string()]["description"] = json!(description))
    }

    /// A header of a response, inline (a `$ref` cannot carry `required`): `component` names
    /// one of `components.headers`, copied by the document.
    fn header(self, status: u16, name: &str, component: &str, required: bool) -> Self {
        self.edit(|op| {
            let mut header = super::openapi::shared_headers()[component].clone();
            header["required"] = json!(required);
            op["responses"][status.to_string()]["headers"][name] = header;
        })
    }

    /// Links of a response.
    fn links(self, status: u16, links: Value) -> Self {
        self.edit(|op| op["responses"][status.to_string()]["links"] = links)
    }

    /// Another status with the content of `from`'s response (e.g. a dry run's 200 next to 201).
    fn also(self, status: u16, from: u16, description: &str) -> Self {
        self.edit(|op| {
            let mut res = op["responses"][from.to_string()].clone();
            res["description"] = json!(description);
            if let Some(m) = res.as_object_mut() {
                m.remove("links");
                m.remove("headers");
            }
            op["responses"][status.to_string()] = res;
        })
    }

    /// A response as JSON (for what no type describes: 304, HTML pages, …).
    fn response_json(self, status: u16, response: Value) -> Self {
        self.edit(|op| op["responses"][status.to_string()] = response)
    }

    /// A query or header parameter from `components.parameters`.
    fn parameter_ref(self, name: &str) -> Self {
        self.edit(|op| add_parameter_refs(op, &[name]))
    }

    /// A public operation: no token needed. (The document has no global security, so this
    /// states the intent next to the route; the generated operation simply has no `security`.)
    fn public(self) -> Self {
        self.edit(|op| op["security"] = json!([]))
    }
}

impl Doc for TransformOperation<'_> {
    fn edit(mut self, f: impl FnOnce(&mut Value)) -> Self {
        edit_operation(self.inner_mut(), f);
        self
    }
}

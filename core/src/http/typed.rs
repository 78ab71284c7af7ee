//! The typed vocabulary of the HTTP edge: what handlers take and return, each piece carrying
//! its part of the OpenAPI document.
//!
//! The router is an aide [`ApiRouter`](aide::axum::ApiRouter) (see `routes.rs`): every
//! operation of the document is generated from the argument and return types of its handler —
//! the path and query types, the body type, the caller, the reply type — plus the summary,
//! error list and headers written next to the route. A handler that takes a new parameter or
//! returns another body changes the document with it; a route added without aide has no
//! operation, and a unit test that asks the router itself fails.

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

// ---------------------------------------------------------------------------------------------
// Editing a generated operation
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// A token is required: the bearer scheme, and 401/403.
impl OperationInput for Caller {
    fn operation_input(_ctx: &mut GenContext, op: &mut Operation) {
        edit_operation(op, |v| {
            v["security"] = json!([{"bearerAuth": []}]);
            v["responses"]["401"] = response_ref("Unauthorized");
            v["responses"]["403"] = response_ref("Forbidden");
        });
    }
}

/// A token is optional (it unlocks previews): either no security or the bearer scheme.
impl OperationInput for MaybeCaller {
    fn operation_input(_ctx: &mut GenContext, op: &mut Operation) {
        edit_operation(op, |v| {
            v["security"] = json!([{}, {"bearerAuth": []}]);
            v["responses"]["401"] = response_ref("Unauthorized");
            v["responses"]["403"] = response_ref("Forbidden");
        });
    }
}

/// Path parameters as the struct `T` names them (its field docs become their descriptions);
/// a segment that cannot be read is a problem+json 400.
pub struct ApiPath<T>(pub T);

impl<T> FromRequestParts<AppState> for ApiPath<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| {
                ApiError::new(
                    Code::BadRequest,
                    format!("the path cannot be read: {}", e.body_text()),
                )
            })
    }
}

impl<T: JsonSchema> OperationInput for ApiPath<T> {
    fn operation_input(ctx: &mut GenContext, op: &mut Operation) {
        axum::extract::Path::<T>::operation_input(ctx, op);
        op.responses
            .get_or_insert_with(Default::default)
            .responses
            .insert(
                DocStatus::Code(400),
                openapi::ReferenceOr::Reference {
                    reference: "#/components/responses/BadRequest".into(),
                    summary: None,
                    description: None,
                },
            );
    }
}

/// A query string read by the handler's own parser into `T`, which documents it: its fields
/// are the parameters (the parser rejects any other name with 400 unknown_parameter).
pub trait QueryParams: Sized + JsonSchema + ParameterRefs {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError>;
}

/// The query string as `T` (see [`QueryParams`]).
pub struct ApiQuery<T>(pub T);

impl<T: QueryParams + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        T::parse(parts.uri.query()).map(ApiQuery)
    }
}

impl<T: QueryParams> OperationInput for ApiQuery<T> {
    fn operation_input(ctx: &mut GenContext, op: &mut Operation) {
        document_query::<T>(ctx, op);
    }
}

/// The parameters of a query type: its fields, then its [`ParameterRefs`]; and the 400 a query
/// that cannot be read gets.
fn document_query<T: JsonSchema + ParameterRefs>(ctx: &mut GenContext, op: &mut Operation) {
    axum::extract::Query::<T>::operation_input(ctx, op);
    edit_operation(op, |v| {
        add_parameter_refs(v, T::PARAMETERS);
        v["responses"]["400"] = response_ref("BadRequest");
    });
}

/// A JSON request body of the shape `T` describes, read when the handler asks
/// ([`JsonBody::read`]), so that the handler's permission checks answer first:
/// `Content-Type` must be JSON (415 otherwise), the body must be JSON (400 invalid_json) and
/// fit `T` (422 invalid_request, naming where and what).
pub struct JsonBody<T> {
    content_type: Option<HeaderValue>,
    body: Bytes,
    shape: PhantomData<fn() -> T>,
}

impl<T> JsonBody<T> {
    /// The body as JSON, not yet of the shape `T` (for merge patches and other raw edits).
    pub fn value(&self) -> Result<Value, ApiError> {
        let mut headers = axum::http::HeaderMap::new();
        if let Some(ct) = &self.content_type {
            headers.insert(axum::http::header::CONTENT_TYPE, ct.clone());
        }
        super::manage::json_body(&headers, &self.body)
    }
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// The body as a `T`.
    pub fn read(&self) -> Result<T, ApiError> {
        serde_json::from_value(self.value()?).map_err(|e| {
            ApiError::new(
                Code::InvalidRequest,
                format!(
                    "the request body does not fit this operation: {e} (its schema is in the OpenAPI document, /openapi.json)"
                ),
            )
        })
    }
}

impl<T> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req.headers().get(axum::http::header::CONTENT_TYPE).cloned();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        Ok(JsonBody {
            content_type,
            body,
            shape: PhantomData,
        })
    }
}

impl<T: JsonSchema> OperationInput for JsonBody<T> {
    fn operation_input(ctx: &mut GenContext, op: &mut Operation) {
        axum::Json::<T>::operation_input(ctx, op);
        edit_operation(op, |v| {
            v["responses"]["400"] = response_ref("BadRequest");
            v["responses"]["415"] = response_ref("UnsupportedMediaType");
        });
    }
}

/// A JSON Merge Patch (RFC 7386) body: `application/merge-patch+json` or JSON.
pub struct MergePatchBody(pub JsonBody<MergePatch>);

impl FromRequest<AppState> for MergePatchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        JsonBody::from_request(req, state).await.map(MergePatchBody)
    }
}

impl OperationInput for MergePatchBody {
    fn operation_input(ctx: &mut GenContext, op: &mut Operation) {
        JsonBody::<MergePatch>::operation_input(ctx, op);
        edit_operation(op, |v| {
            let json = v["requestBody"]["content"]["application/json"].clone();
            v["requestBody"]["content"] =
                json!({"application/merge-patch+json": json.clone(), "application/json": json});
        });
    }
}

/// `If-Match` of a write: the version the client edited, read when the handler asks
/// ([`IfMatch::version`]): missing is 428 precondition_required, not a version 400
/// invalid_if_match.
pub struct IfMatch(Option<HeaderValue>);

impl IfMatch {
    pub fn version(&self) -> Result<u64, ApiError> {
        super::manage::if_match(self.0.as_ref())
    }
}

impl FromRequestParts<AppState> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(IfMatch(
            parts.headers.get(axum::http::header::IF_MATCH).cloned(),
        ))
    }
}

impl OperationInput for IfMatch {
    fn operation_input(_: &mut GenContext, op: &mut Operation) {
        edit_operation(op, |v| {
            add_parameter_refs(v, &["IfMatch"]);
            v["responses"]["400"] = response_ref("BadRequest");
            v["responses"]["428"] = response_ref("PreconditionRequired");
        });
    }
}

/// A query string the handler reads itself, after its response cache (so that a cache hit
/// parses nothing), documented by `T`.
pub struct QueryDoc<T>(PhantomData<fn() -> T>);

impl<T> FromRequestParts<AppState> for QueryDoc<T> {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(QueryDoc(PhantomData))
    }
}

/// Parameters of a query the document gives by reference (`components.parameters`): those
/// whose names depend on the content type (`filter[…]` in deepObject style, `sort`, …), made
/// per type from the registry. None by default.
pub trait ParameterRefs {
    const PARAMETERS: &'static [&'static str] = &[];
}

impl<T: ParameterRefs + JsonSchema> OperationInput for QueryDoc<T> {
    fn operation_input(ctx: &mut GenContext, op: &mut Operation) {
        document_query::<T>(ctx, op);
    }
}

/// A request body the handler does not read, documented as `M` (the one-click unsubscribe
/// form of RFC 8058).
pub struct BodyDoc<M>(PhantomData<fn() -> M>);

impl<M> FromRequestParts<AppState> for BodyDoc<M> {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(BodyDoc(PhantomData))
    }
}

impl<M: Media> OperationInput for BodyDoc<M> {
    fn operation_input(ctx: &mut GenContext, op: &mut Operation) {
        RawBody::<M>::operation_input(ctx, op);
    }
}

/// A body that could not be read: too large (413) or broken off.
fn body_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Code::PayloadTooLarge
    } else {
        Code::BadRequest
    };
    ApiError::new(
        code,
        format!("the request body cannot be read: {}", e.body_text()),
    )
}

/// A body the handler reads itself (`Bytes`), documented as `M` describes it.
pub struct RawBody<M>(pub Bytes, pub PhantomData<fn() -> M>);

impl<M> FromRequest<AppState> for RawBody<M> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(|b| RawBody(b, PhantomData))
            .map_err(body_rejection)
    }
}

impl<M: Media> OperationInput for RawBody<M> {
    fn operation_input(_ctx: &mut GenContext, op: &mut Operation) {
        edit_operation(op, |v| {
            v["requestBody"] = json!({"required": M::REQUIRED, "content": M::content()});
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

/// Errors are listed by each route's docs (`errors`, `problem`); every operation also gets
/// the answers any request may get (limits, timeouts, failures) from the document.
impl OperationOutput for ApiError {
    type Inner = Self;
}

/// A JSON reply of status `S` whose body is a `T`: the document's response of `S` is `T`'s
/// schema. Built from a `T` ([`Reply::json`]), or from a response the handler made of one
/// (cached bytes, a 304) with [`Reply::from_response`].
pub struct Reply<T, const S: u16 = 200> {
    response: Response,
    body: PhantomData<fn() -> T>,
}

impl<T: Serialize, const S: u16> Reply<T, S> {
    pub fn json(body: &T) -> Self {
        let status = StatusCode::from_u16(S).unwrap_or(StatusCode::OK);
        Self::from_response((status, axum::Json(body)).into_response())
    }
}

impl<T, const S: u16> Reply<T, S> {
    pub fn from_response(response: Response) -> Self {
        Self {
            response,
            body: PhantomData,
        }
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.response.headers_mut().insert(name, value);
        self
    }
}

impl<T, const S: u16> IntoResponse for Reply<T, S> {
    fn into_response(self) -> Response {
        self.response
    }
}

fn content_response(content: Value) -> Option<openapi::Response> {
    serde_json::from_value(json!({"description": "", "content": content})).ok()
}

impl<T: JsonSchema, const S: u16> OperationOutput for Reply<T, S> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, _op: &mut Operation) -> Option<openapi::Response> {
        let schema = ctx.schema.subschema_for::<T>();
        let mut res = openapi::Response::default();
        res.content.insert(
            "application/json".into(),
            MediaType {
                schema: Some(SchemaObject {
                    json_schema: schema,
                    external_docs: None,
                    example: None,
                }),
                ..Default::default()
            },
        );
        Some(res)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        op: &mut Operation,
    ) -> Vec<(Option<DocStatus>, openapi::Response)> {
        Self::operation_response(ctx, op)
            .map(|r| vec![(Some(DocStatus::Code(S)), r)])
            .unwrap_or_default()
    }
}

/// A media type of a body that is not JSON of a Rust type, as the document gives it.
pub trait Media {
    /// Whether a request must have such a body.
    const REQUIRED: bool = true;
    /// The `content` object of a request or response.
    fn content() -> Value;
}

/// `text/plain`.
pub struct Text;

impl Media for Text {
    fn content() -> Value {
        json!({"text/plain": {"schema": {"type": "string"}}})
    }
}

/// NDJSON: one JSON object per line.
pub struct Ndjson;

impl Media for Ndjson {
    const REQUIRED: bool = false;
    fn content() -> Value {
        json!({
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        })
    }
}

/// NDJSON as an answer.
pub struct NdjsonLines;

impl Media for NdjsonLines {
    fn content() -> Value {
        json!({"application/x-ndjson": {"schema": {"type": "string"}}})
    }
}

/// `text/html`: a page for people.
pub struct Html;

impl Media for Html {
    fn content() -> Value {
        json!({"text/html": {"schema": {"type": "string"}}})
    }
}

/// A reply with a body of media `M` and status `S`, made by the handler.
pub struct Raw<M, const S: u16 = 200>(pub Response, PhantomData<fn() -> M>);

impl<M, const S: u16> Raw<M, S> {
    pub fn new(response: Response) -> Self {
        Raw(response, PhantomData)
    }
}

impl<M, const S: u16> IntoResponse for Raw<M, S> {
    fn into_response(self) -> Response {
        self.0
    }
}

impl<M: Media, const S: u16> OperationOutput for Raw<M, S> {
    type Inner = Self;

    fn operation_response(_: &mut GenContext, _: &mut Operation) -> Option<openapi::Response> {
        content_response(M::content())
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        op: &mut Operation,
    ) -> Vec<(Option<DocStatus>, openapi::Response)> {
        Self::operation_response(ctx, op)
            .map(|r| vec![(Some(DocStatus::Code(S)), r)])
            .unwrap_or_default()
    }
}

/// 204 No Content.
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}

impl OperationOutput for NoContent {
    type Inner = Self;

    fn operation_response(_: &mut GenContext, _: &mut Operation) -> Option<openapi::Response> {
        Some(openapi::Response::default())
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        op: &mut Operation,
    ) -> Vec<(Option<DocStatus>, openapi::Response)> {
        Self::operation_response(ctx, op)
            .map(|r| vec![(Some(DocStatus::Code(204)), r)])
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------

// `{"data": …}`: how every JSON answer carries its payload.
#[derive(Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Data<T> {
    pub data: T,
}

impl<T> Data<T> {
    pub fn of(data: T) -> Self {
        Data { data }
    }
}

// `{"data": […], "meta": …}`: a page of a list or feed.
#[derive(Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Page<T, M> {
    pub data: Vec<T>,
    pub meta: M,
}

/// A schema the document states itself (`openapi.rs`): built from the content types at
/// start-up (`AnyEntry`, …, which the per-type paths turn into the type's own, `StoryEntry`),
/// or written there until a Rust type describes it. The type is a reference to it.
macro_rules! document_schema {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Serialize)]
        #[serde(transparent)]
        pub struct $name(pub Value);

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"$ref": concat!("#/components/schemas/", stringify!($name))})
            }
        }
    };
}

document_schema!(
    /// An entry of the type in the path, as the management API returns it.
    AnyEntry
);
document_schema!(
    /// A published entry of the type in the path, without personal fields.
    AnyPublic
);
document_schema!(
    /// The fields creating an entry of the type in the path.
    AnyCreate
);
document_schema!(
    /// A JSON Merge Patch of the fields of an entry of the type in the path.
    MergePatch
);
document_schema!(
    /// With `include`: the published entries the chosen reference fields point to, by type.
    Included
);
document_schema!(
    /// The fields replacing an entry of the type in the path.
    AnyReplace
);

impl<'de> serde::Deserialize<'de> for AnyCreate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(AnyCreate)
    }
}

// Schemas the document still states itself (`openapi.rs`), until their Rust types describe
// them.
document_schema!(
    /// A stable error code: the error table (`codes.rs`) as a schema.
    ErrorCode
);
document_schema!(
    /// Everything stored about a person.
    DataSubjectExport
);
document_schema!(
    /// An installed plugin.
    Plugin
);
document_schema!(
    /// A plugin's stored record.
    PluginRecord
);
document_schema!(
    /// What an install did (or would do).
    InstallReport
);
document_schema!(
    /// A plugin's limits and settings.
    PluginSettings
);
document_schema!(
    /// The artifacts of a plugin export.
    ExportResult
);

impl<'de> serde::Deserialize<'de> for MergePatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(MergePatch)
    }
}

impl<'de> serde::Deserialize<'de> for AnyReplace {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(AnyReplace)
    }
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// `{type}`: a content type of this server (the document gives each its own path).
#[derive(serde::Deserialize, JsonSchema)]
pub struct TypePath {
    /// The content type.
    #[serde(rename = "type")]
    pub ty: String,
}

/// `{type}/{id}` of the management API.
#[derive(serde::Deserialize, JsonSchema)]
pub struct EntryPath {
    /// The content type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The entry's id (GET also takes a slug in locale `de`).
    #[schemars(length(min = 1))]
    pub id: String,
}

/// `{type}/{id_or_slug}` of the delivery API.
#[derive(serde::Deserialize, JsonSchema)]
pub struct ContentPath {
    /// The content type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The entry's id, or its slug in the requested locale.
    #[schemars(length(min = 1))]
    pub id_or_slug: String,
}

/// `{id}` of a token.
#[derive(serde::Deserialize, JsonSchema)]
pub struct TokenPath {
    /// The token's id (not the secret).
    #[schemars(length(min = 1))]
    pub id: String,
}

/// `{name}` of a plugin.
#[derive(serde::Deserialize, JsonSchema)]
pub struct PluginPath {
    /// The name of an installed plugin (see GET /api/v1/admin/plugins).
    #[schemars(length(min = 1))]
    pub name: String,
}

/// `{plugin}/{export}`: one export of a plugin.
#[derive(serde::Deserialize, JsonSchema)]
pub struct ExportPath {
    /// The name of an installed plugin with exports.
    #[schemars(length(min = 1), example = &"newsletter-export")]
    pub plugin: String,
    /// One of the plugin's exports (see `exports` of GET /api/v1/admin/plugins/{name}).
    #[schemars(length(min = 1), example = &"issue")]
    pub export: String,
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// `since` and `limit` of the feeds (the change feed, the audit log).
#[derive(JsonSchema)]
pub struct FeedQuery {
    /// Return what comes after this sequence number (`meta.next_since` of the previous page).
    #[schemars(range(max = 18446744073709551615u64))]
    #[serde(default)]
    pub since: u64,
    /// How many records to scan at most (400 invalid_limit outside 1–1000).
    #[schemars(range(min = 1, max = 1000))]
    #[serde(default = "FeedQuery::default_limit")]
    pub limit: usize,
}

impl FeedQuery {
    fn default_limit() -> usize {
        100
    }
}

impl ParameterRefs for FeedQuery {}

impl QueryParams for FeedQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let (since, limit) = super::params::since_and_limit(raw.map(String::from))?;
        Ok(FeedQuery { since, limit })
    }
}

/// No query parameters: any is a 400 unknown_parameter.
#[derive(JsonSchema)]
pub struct NoQuery {}

impl ParameterRefs for NoQuery {}

impl QueryParams for NoQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match super::params::pairs(raw.map(String::from))?
            .into_iter()
            .next()
        {
            Some((k, _)) => Err(super::params::unknown(&k, "no parameters")),
            None => Ok(NoQuery {}),
        }
    }
}

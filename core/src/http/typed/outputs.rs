//! What handlers return: JSON replies, raw bodies of a media type, no content; each
//! documenting its answer.

use super::*;

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

/// The one response an output type documents, under its status `status`.
fn answered_with<T: OperationOutput>(
    status: u16,
    ctx: &mut GenContext,
    op: &mut Operation,
) -> Vec<(Option<DocStatus>, openapi::Response)> {
    T::operation_response(ctx, op)
        .map(|r| vec![(Some(DocStatus::Code(status)), r)])
        .unwrap_or_default()
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

pub(super) fn content_response(content: Value) -> Option<openapi::Response> {
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
        answered_with::<Self>(S, ctx, op)
    }
}

/// A media type of a body that is not JSON of a Rust type, as the document gives it.
pub trait Media {
    /// Whether a request must have such a body.
    const REQUIRED: bool = true;
    /// The `content` object of a request or response.
    fn content() -> Value;
}

/// A media type whose body is one string of that type.
macro_rules! text_media {
    ($(#[$doc:meta])* $name:ident = $mime:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl Media for $name {
            fn content() -> Value {
                json!({ $mime: {"schema": {"type": "string"}} })
            }
        }
    };
}

text_media!(
    /// `text/plain`.
    Text = "text/plain"
);
text_media!(
    /// NDJSON as an answer.
    NdjsonLines = "application/x-ndjson"
);
text_media!(
    /// `text/html`: a page for people.
    Html = "text/html"
);
/// `text/event-stream`: the change stream's Server-Sent Events, each described as an object of
/// its fields (`id`, `event`, `data`: a `ChangeEvent` as JSON text).
pub struct EventStream;

impl Media for EventStream {
    fn content() -> Value {
        json!({"text/event-stream": {"schema": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The change's sequence number (send it back as Last-Event-ID)."},
                "event": {"type": "string", "const": "change"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": "#/components/schemas/ChangeEvent"},
                },
                "retry": {"type": "integer", "minimum": 0},
            },
        }}})
    }
}

/// An asset's bytes: an image or a document.
pub struct AssetFile;

impl Media for AssetFile {
    fn content() -> Value {
        let binary = json!({"schema": {"type": "string", "format": "binary"}});
        json!({
            "image/jpeg": binary, "image/png": binary, "image/gif": binary,
            "image/webp": binary, "image/avif": binary, "application/pdf": binary,
        })
    }
}

/// An upload: the file's bytes, or a form with a `file` part.
pub struct UploadFile;

impl Media for UploadFile {
    fn content() -> Value {
        let binary = json!({"schema": {"type": "string", "format": "binary"}});
        json!({
            "application/octet-stream": binary,
            "image/jpeg": binary, "image/png": binary, "image/gif": binary,
            "image/webp": binary, "application/pdf": binary,
            "multipart/form-data": {"schema": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": false,
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "filename": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/\\\\]*\\S[^/\\\\]*$"},
                    "alt": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": "\\S"},
                    "locale": {"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"},
                    "decorative": {"type": "string", "enum": ["true", "false"]},
                    "caption": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "\\S"},
                    "credit": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": "\\S"},
                    "license": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": "\\S"},
                    "meta": {"type": "string", "description": "A JSON object of asset fields (alt per locale, focal, crop, consent, …)."},
                },
            }},
        })
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
        answered_with::<Self>(S, ctx, op)
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

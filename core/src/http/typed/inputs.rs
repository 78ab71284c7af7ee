//! What handlers take: the caller, path, query, body and header extractors, each documenting
//! its part of the operation.

use super::*;

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
pub(super) fn document_query<T: JsonSchema + ParameterRefs>(
    ctx: &mut GenContext,
    op: &mut Operation,
) {
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
        crate::http::manage::json_body(&headers, &self.body)
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
        crate::http::manage::if_match(self.0.as_ref())
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
pub(super) fn body_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
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

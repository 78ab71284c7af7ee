//! The API's one error table: every error the API can answer with has a stable code, one HTTP
//! status, a title and a line of documentation, defined here once (the model is meilisearch's
//! `Code` table). Handlers name a [`Code`]; the problem+json body, the OpenAPI document
//! (`x-error-codes` and the `ErrorCode` schema) and the README's table are all made from it.

use axum::http::StatusCode;

macro_rules! codes {
    ($( $variant:ident = $status:ident, $name:literal, $title:literal, $doc:literal; )*) => {
        /// A stable error code of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( #[doc = $doc] $variant, )*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as clients see it (`code` of a problem, `urn:verbund:problem:{code}`).
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The HTTP status every answer with this code has.
            pub fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status,)* }
            }

            /// A short title of the problem (`title` of a problem).
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            /// What it means and what to do about it.
            pub fn doc(self) -> &'static str {
                match self { $(Code::$variant => $doc,)* }
            }
        }
    };
}

codes! {
    // 400: the request cannot be read.
    BadRequest = BAD_REQUEST, "bad_request", "Bad request",
        "The request is malformed (e.g. a path segment that is not UTF-8 once percent-decoded); the detail says where.";
    InvalidQuery = BAD_REQUEST, "invalid_query", "Invalid query",
        "The query string cannot be read, or a parameter has a value of the wrong kind.";
    InvalidParameter = BAD_REQUEST, "invalid_parameter", "Invalid parameter",
        "A query parameter is out of range: e.g. `first_line` of a bulk operation, a `locale` or `fallback` that is no locale, `outdated` other than true or false.";
    UnknownParameter = BAD_REQUEST, "unknown_parameter", "Unknown parameter",
        "The operation has no such query parameter; the detail lists the ones it has.";
    InvalidLimit = BAD_REQUEST, "invalid_limit", "Invalid limit",
        "`limit` is not a whole number within the operation's bounds.";
    UnknownField = BAD_REQUEST, "unknown_field", "Unknown field",
        "A field in `filter`, `sort`, `fields` or `include` that the content type does not have (or cannot sort or filter by); the detail lists the allowed ones.";
    UnknownOperator = BAD_REQUEST, "unknown_operator", "Unknown filter operator",
        "A `filter[field][op]` operator other than eq, ne, in, lt, lte, gt, gte, contains, or one the field's kind does not support.";
    InvalidCursor = BAD_REQUEST, "invalid_cursor", "Invalid cursor",
        "The cursor was not made by this query; start again without it.";
    InvalidSearch = BAD_REQUEST, "invalid_search", "Invalid search",
        "The search query `q` is missing, empty, too long (200 characters, 8 words and phrases, 8 words per phrase) or has a phrase without its closing quote; the detail says what to change.";
    QueryTooLarge = BAD_REQUEST, "query_too_large", "Query too large",
        "A delivery query beyond its bounds: 4096 bytes, 16 filters, 100 `in` values, 4 sort keys, 64 fields, 8 includes.";
    InvalidJson = BAD_REQUEST, "invalid_json", "Invalid JSON",
        "The body is not valid JSON (or not the JSON object the operation expects).";
    EmptyBody = BAD_REQUEST, "empty_body", "Empty body",
        "The operation needs a body and got none.";
    InvalidBody = BAD_REQUEST, "invalid_body", "Invalid body",
        "The body of a bulk operation cannot be read (e.g. an NDJSON line that is not JSON); the detail names the line.";
    InvalidIfMatch = BAD_REQUEST, "invalid_if_match", "Invalid If-Match",
        "`If-Match` is not the quoted version (ETag) of an entry.";
    InvalidTransform = BAD_REQUEST, "invalid_transform", "Invalid transform",
        "A rendition parameter is unknown or out of range, or the asset cannot be transformed (a PDF).";
    InvalidGrant = BAD_REQUEST, "invalid_grant", "Invalid grant",
        "A plugin grant is not of the form `read:{type}` or `read:{type}+personal`, or names an unknown type.";
    InvalidLimits = BAD_REQUEST, "invalid_limits", "Invalid plugin limits",
        "`limits` is not a map of hook names to resource limits.";
    InvalidConfig = BAD_REQUEST, "invalid_config", "Invalid plugin settings",
        "`config` is not an object of strings.";
    InvalidEmail = BAD_REQUEST, "invalid_email", "Invalid e-mail address",
        "The address is not an e-mail address.";
    InvalidSignUp = BAD_REQUEST, "invalid_sign_up", "Invalid sign-up",
        "A newsletter sign-up without consent, with an unknown consent text version or unknown topics.";
    MissingToken = BAD_REQUEST, "missing_token", "Missing link token",
        "A newsletter link without its `token`.";
    InvalidLink = BAD_REQUEST, "invalid_link", "Invalid link",
        "The token of a newsletter link was changed, is incomplete, was signed with an unknown key or is for another purpose.";
    // 401, 403: who is asking.
    Unauthorized = UNAUTHORIZED, "unauthorized", "Unauthorized",
        "The operation needs a bearer token (`Authorization: Bearer vb_…`).";
    InvalidToken = UNAUTHORIZED, "invalid_token", "Invalid token",
        "The bearer token is unknown or revoked.";
    TokenExpired = UNAUTHORIZED, "token_expired", "Token expired",
        "The bearer token has expired; an admin creates a new one.";
    UnsignedTransform = FORBIDDEN, "unsigned_transform", "Unsigned transform",
        "Custom rendition parameters need the signature the delivery API puts into its URLs; use a preset or a `srcset` URL.";
    Forbidden = FORBIDDEN, "forbidden", "Forbidden",
        "The token's role may not do this (e.g. admin operations need an admin token).";
    RoleNotAllowed = FORBIDDEN, "role_not_allowed", "Role not allowed",
        "The workflow does not let this role take the transition; the detail names the roles that may.";
    PersonalDataForbidden = FORBIDDEN, "personal_data_forbidden", "Personal data is for admins",
        "Only admins read or write personal data (personal types, `pii` fields).";
    // 404, 405: what is asked for.
    NotFound = NOT_FOUND, "not_found", "Not found",
        "No such entry, token, plugin or route.";
    UnknownType = NOT_FOUND, "unknown_type", "Unknown content type",
        "No content type of this name; `GET /api/v1/schemas` lists them.";
    MethodNotAllowed = METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed",
        "The path exists but not with this method; `Allow` lists the methods it has.";
    Timeout = REQUEST_TIMEOUT, "timeout", "Request timeout",
        "The request took longer than the server allows and was stopped.";
    // 409, 410, 413, 415, 422, 428, 429: the state of things.
    VersionConflict = CONFLICT, "version_conflict", "Version conflict",
        "The entry was changed since the version in `If-Match`; read it again (`current_version` says which is current).";
    StillReferenced = CONFLICT, "still_referenced", "Still referenced",
        "Other entries refer to this one (`referrers` lists them); change them first.";
    InvalidTransition = CONFLICT, "invalid_transition", "Invalid transition",
        "The workflow has no such transition from the entry's state; the detail lists the ones it has.";
    TransitionDenied = CONFLICT, "transition_denied", "Transition denied",
        "The plugin governing the workflow refused the transition (`reason` says why, e.g. four-eyes).";
    PluginDisabled = CONFLICT, "plugin_disabled", "Plugin disabled",
        "The plugin is disabled; an admin enables it again.";
    MailNotRetryable = CONFLICT, "mail_not_retryable", "Mail not retryable",
        "Only a failed mail, or one whose send a crash cut off (`unknown`), can be sent again.";
    LinkExpired = GONE, "link_expired", "Link expired",
        "The newsletter link has expired; sign up again for a new one.";
    LinkUsed = GONE, "link_used", "Link used",
        "The confirmation link was used already, or replaced by a newer sign-up or an unsubscription.";
    PayloadTooLarge = PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large",
        "The body is over the server's limit (`--max-body`, 1 MiB by default).";
    ImageTooLarge = PAYLOAD_TOO_LARGE, "image_too_large", "Image too large",
        "The upload is over the media limits (bytes, or pixels read from its header before decoding); the detail names the limit.";
    UnsupportedMediaType = UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type",
        "The body's `Content-Type` is not one the operation reads.";
    ValidationFailed = UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed",
        "The entry does not fit its content type's schema (or a plugin's rules); `errors` names each field.";
    InvalidRequest = UNPROCESSABLE_ENTITY, "invalid_request", "Invalid request",
        "The body is well-formed JSON but not what the operation expects; the detail says what is wrong.";
    PluginInvalid = UNPROCESSABLE_ENTITY, "plugin_invalid", "Plugin refused",
        "The plugin component, its settings or its export parameters were refused; the detail says why.";
    AssetRefused = UNPROCESSABLE_ENTITY, "asset_refused", "File refused",
        "The upload is not a file Verbund takes (type, damage, a file that is also another format); the detail says why and what to do.";
    InvalidWebhook = UNPROCESSABLE_ENTITY, "invalid_webhook", "Invalid webhook",
        "A webhook endpoint's events, types, locales, header or description cannot be taken; the detail names the value and the allowed ones.";
    WebhookTargetRefused = UNPROCESSABLE_ENTITY, "webhook_target_refused", "Webhook target refused",
        "The webhook URL is not https://, holds credentials, or reaches a loopback, private, link-local or metadata address the server's allow-list (`--webhook-allow`) does not name.";
    PreconditionRequired = PRECONDITION_REQUIRED, "precondition_required", "If-Match required",
        "A write needs `If-Match` with the version it changes (read the entry first).";
    RateLimited = TOO_MANY_REQUESTS, "rate_limited", "Too many requests",
        "Too many requests from this client; `Retry-After` says when to try again.";
    // 5xx: the server or something it depends on.
    Internal = INTERNAL_SERVER_ERROR, "internal", "Internal error",
        "The server could not complete the request; it has been logged.";
    NewsletterOff = NOT_IMPLEMENTED, "newsletter_off", "Newsletter off",
        "This server sends no mail, so no newsletter.";
    MediaOff = NOT_IMPLEMENTED, "media_off", "Media off",
        "This server runs without media storage.";
    PluginsOff = NOT_IMPLEMENTED, "plugins_off", "Plugins off",
        "This server runs without the plugin host (`--no-plugins`).";
    PluginFailed = BAD_GATEWAY, "plugin_failed", "Plugin failed",
        "A plugin faulted or ran into a resource limit; the detail says which and how.";
    Overloaded = SERVICE_UNAVAILABLE, "overloaded", "Overloaded",
        "The server is handling as many requests as it allows; try again shortly.";
    TooManyConnections = SERVICE_UNAVAILABLE, "too_many_connections", "Too many connections",
        "The server has as many connections open as it allows (`--max-connections`); try again in a second.";
    Contended = SERVICE_UNAVAILABLE, "contended", "Contended",
        "The write kept conflicting with concurrent writes; try again.";
    PluginsBusy = SERVICE_UNAVAILABLE, "plugins_busy", "Plugins busy",
        "Every plugin instance is in use; try again shortly.";
    PluginUnavailable = SERVICE_UNAVAILABLE, "plugin_unavailable", "Plugin unavailable",
        "The plugin governing this type's workflow, or a plugin an admin marked required for it, is disabled or does not load; no transition but going offline is possible (and, for a required plugin, no write) until an admin fixes it.";
    MailUnavailable = SERVICE_UNAVAILABLE, "mail_unavailable", "Mail unavailable",
        "The mail could not be handed on; try again later.";
    StoreUnavailable = SERVICE_UNAVAILABLE, "store_unavailable", "Store unavailable",
        "The database cannot be reached at the moment; the request can be repeated as it is after `Retry-After` seconds.";
    MediaBusy = SERVICE_UNAVAILABLE, "media_busy", "Media busy",
        "Every image transform slot is in use, or the media storage cannot be reached; try again shortly.";
    SearchUnavailable = SERVICE_UNAVAILABLE, "search_unavailable", "Search unavailable",
        "This node's search index is being built for the first time (try again in a few seconds), or the server runs without search (`--no-search`).";
    BackupFailed = SERVICE_UNAVAILABLE, "backup_failed", "Backup failed",
        "The backup could not be written; the detail says why.";
}

impl Code {
    /// The code for an error answer nobody made a problem of (rejections of axum's
    /// extractors and tower's limits), by its status.
    pub fn for_status(status: StatusCode) -> Code {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
            StatusCode::REQUEST_TIMEOUT => Code::Timeout,
            StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
            StatusCode::SERVICE_UNAVAILABLE => Code::Overloaded,
            StatusCode::NOT_FOUND => Code::NotFound,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidRequest,
            s if s.is_server_error() => Code::Internal,
            _ => Code::BadRequest,
        }
    }

    /// The table as Markdown (for the README; a test keeps them equal).
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | status | meaning |\n|---|---|---|\n");
        for c in Code::ALL {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                c.name(),
                c.status().as_u16(),
                c.doc().replace('|', "\\|")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.name()), "{} twice", c.name());
            assert!(
                c.name()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{}",
                c.name()
            );
            assert!(c.status().as_u16() >= 400, "{}", c.name());
            assert!(!c.doc().is_empty() && !c.title().is_empty());
        }
    }

    #[test]
    fn the_readme_lists_the_table() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(&Code::markdown_table()),
            "README.md's error table differs from core/src/http/codes.rs; paste this:\n{}",
            Code::markdown_table()
        );
    }
}

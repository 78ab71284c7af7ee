//! The route table: every route of the API with the docs of its operation.
//!
//! aide generates each operation from its handler's types (path, query, body, caller, reply;
//! see `typed.rs`); what is written here is what no type can say: the operation's id, summary
//! and description, the errors it answers with, its headers and links. The document adds the
//! content types (one path per type, from the registry) and the answers every operation may
//! give (`openapi.rs`).

use aide::axum::ApiRouter;
use aide::axum::routing::{delete_with, get_with, post_with};
use aide::transform::TransformOperation as Op;
use serde_json::{Value, json};

use super::typed::Doc;
use super::{
    AppState, admin, assets, bulk, delivery, mail, manage, metrics, newsletter, plugins, search,
    stream, webhooks,
};

/// Links from a response naming an entry (`id`, a runtime expression) to the operations on
/// it; with `etag`, also to the writes that need `If-Match`.
fn entry_links(id: &str, etag: Option<&str>) -> Value {
    let base = json!({"type": "$request.path.type", "id": id});
    let mut links = serde_json::Map::new();
    for (name, op) in [
        ("GetEntry", "getEntry"),
        ("ListRevisions", "listRevisions"),
        ("TransitionEntry", "transitionEntry"),
        ("GetHistory", "getHistory"),
    ] {
        links.insert(
            name.into(),
            json!({"operationId": op, "parameters": base.clone()}),
        );
    }
    if let Some(etag) = etag {
        for (name, op) in [
            ("ReplaceEntry", "replaceEntry"),
            ("PatchEntry", "patchEntry"),
            ("DeleteEntry", "deleteEntry"),
        ] {
            let mut parameters = base.clone();
            parameters["header.If-Match"] = Value::String(etag.into());
            let mut link = json!({"operationId": op, "parameters": parameters});
            if op == "replaceEntry" {
                // The entry as returned can be sent back as it is (metadata is ignored).
                link["requestBody"] = Value::String("$response.body#/data".into());
                link["x-schemathesis"] = json!({"merge_body": false});
            }
            links.insert(name.into(), link);
        }
    }
    Value::Object(links)
}

/// Links from an answer naming a plugin (`name`, a runtime expression) to the operations on it.
fn plugin_links(name: &str) -> Value {
    let mut links = serde_json::Map::new();
    for (link, op) in [
        ("GetPlugin", "getPlugin"),
        ("ConfigurePlugin", "configurePlugin"),
        ("EnablePlugin", "enablePlugin"),
        ("DisablePlugin", "disablePlugin"),
        ("RemovePlugin", "removePlugin"),
    ] {
        links.insert(
            link.into(),
            json!({"operationId": op, "parameters": {"name": name}}),
        );
    }
    Value::Object(links)
}

/// An entry answered by the management API: its version as ETag, links to what can be done
/// with it next.
fn entry_answer<'a>(op: Op<'a>, status: u16, description: &str) -> Op<'a> {
    op.says(status, description)
        .header(status, "ETag", "ETag", true)
        .header(status, "Cache-Control", "CacheControl", true)
        .links(
            status,
            entry_links("$response.body#/data/id", Some("$response.header.ETag")),
        )
}

/// The answer of a delivery read: validators and cache tags, 304 for a matching
/// `If-None-Match`.
fn delivery_answer<'a>(op: Op<'a>, description: &str, cacheable: bool) -> Op<'a> {
    op.says(200, description)
        .header(200, "ETag", "ETag", cacheable)
        .header(200, "Cache-Control", "CacheControl", true)
        .header(200, "Surrogate-Key", "SurrogateKey", cacheable)
        .parameter_ref("IfNoneMatch")
        .response_json(
            304,
            json!({
                "description": "Not modified: the client's `If-None-Match` matches.",
                "headers": {
                    "ETag": {"$ref": "#/components/headers/ETag"},
                    "Cache-Control": {"$ref": "#/components/headers/CacheControl"},
                    "Surrogate-Key": {"$ref": "#/components/headers/SurrogateKey"},
                },
            }),
        )
}

/// An error answered as problem+json, or as a page for browsers (without `Accept: …json`).
fn problem_or_page<'a>(op: Op<'a>, status: u16, description: &str) -> Op<'a> {
    op.response_json(
        status,
        json!({
            "description": description,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }),
    )
}

const WRITE_CONFLICT: &str =
    "The entry was changed meanwhile (version_conflict, with `current_version`).";

/// Every route of the API, each with its documented operation.
pub(super) fn api_routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/healthz",
            get_with(super::healthz, |op| {
                op.doc("healthz", "ops", "Liveness check", "")
                    .public()
                    .says(200, "The server is up.")
            }),
        )
        .api_route(
            "/metrics",
            get_with(metrics::metrics, |op| {
                op.doc("metrics", "ops", "Metrics in the Prometheus text format", "")
                    .public()
                    .says(200, "Prometheus text exposition format.")
            }),
        )
        .api_route(
            "/openapi.json",
            get_with(super::openapi_json, |op| {
                op.doc(
                    "getOpenApi",
                    "ops",
                    "This description of the API",
                    "The OpenAPI 3.1 document of the whole API, with the content types generated from the schemas the server runs with.",
                )
                .public()
                .says(200, "The OpenAPI document.")
            }),
        )
        .api_route(
            "/api/v1/auth/whoami",
            get_with(super::whoami, |op| {
                op.doc(
                    "whoami",
                    "ops",
                    "Who the token belongs to",
                    "The token's id and role: lets clients check a token (`verbund login`). Any role.",
                )
                .says(200, "The token.")
            }),
        )
        .merge(delivery_routes())
        .merge(asset_routes())
        .merge(manage_routes())
        .merge(bulk_routes())
        .merge(newsletter_routes())
        .merge(admin_routes())
        .merge(webhook_routes())
        .merge(mail_routes())
        .merge(plugin_routes())
        .merge(search_routes())
}

fn search_routes() -> ApiRouter<AppState> {
    const BAD: &str = "`q` is missing, empty, too long or has an unclosed quote (invalid_search); a `type` or `filter[field]` that cannot be searched (unknown_field); a cursor of another search (invalid_cursor); a malformed `locale` (invalid_parameter), `limit` (invalid_limit) or another parameter (unknown_parameter).";
    let filter = |op: &mut serde_json::Value| {
        let mut params = op["parameters"].as_array().cloned().unwrap_or_default();
        params.push(json!({
            "name": "filter", "in": "query", "style": "deepObject", "explode": true,
            "description": "Facet filters `filter[field]=value,value`: hits whose field holds one of the values; several fields must all match. Fields: `topics`, `state_region` (a member's region) and the other filterable fields with fixed values (`kind`, `format`, `legal_form`, `employees`, `services`).",
            "schema": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1, "pattern": "^[^,]+(,[^,]+){0,19}$"},
                "maxProperties": crate::search::query_limits_max_filters(),
            },
        }));
        op["parameters"] = json!(params);
    };
    ApiRouter::new()
        .api_route(
            "/api/v1/search",
            get_with(search::search, move |op| {
                op.doc(
                    "search",
                    "delivery",
                    "Search the published content",
                    "Full-text search over every published entry of the public types (never drafts or personal fields), with German and English analysers: inflections, ü/ue and ß/ss spellings and compound parts find the same entries; typos in words of 5+ letters are forgiven; the last word is also matched as a prefix (search as you type). Hits are ranked title > teaser > body, newer first among equals, with highlighted (`<mark>`, HTML-escaped) title and snippet; `meta.facets` counts all hits by type, topic and member region. A publication is found within a second.",
                )
                .public()
                .says(200, "A page of hits.")
                .header(200, "Cache-Control", "CacheControl", true)
                .problem(400, BAD)
                .problem(503, "The search index is being built for the first time on this node (search_unavailable).")
                .edit(filter)
            }),
        )
        .api_route(
            "/api/v1/manage/search",
            get_with(search::search_manage, move |op| {
                op.doc(
                    "searchManage",
                    "management",
                    "Search the content, working copies included",
                    "The published hits of GET /api/v1/search, then working copies (drafts, entries in review, unpublished changes of published entries) whose current text matches, each with its `state`. Working copies are read, not indexed: at most 20,000 are looked at per search (`meta.drafts_complete`). Any role.",
                )
                .says(200, "A page of hits.")
                .problem(400, BAD)
                .problem(503, "The search index is being built for the first time on this node (search_unavailable).")
                .edit(filter)
            }),
        )
        .api_route(
            "/api/v1/admin/search",
            get_with(search::status, |op| {
                op.doc(
                    "searchStatus",
                    "admin",
                    "The search index of this node",
                    "Documents, the change sequence number the index is in step with, the rebuild generation, segments and size on disk. Needs the admin role.",
                )
                .says(200, "The index's state.")
                .problem(503, "The server runs without search (search_unavailable).")
            }),
        )
        .api_route(
            "/api/v1/admin/search/rebuild",
            post_with(search::rebuild, |op| {
                op.doc(
                    "rebuildSearch",
                    "admin",
                    "Rebuild the search index on every node",
                    "Raises the rebuild generation in the store: every node builds a new index from the published view beside the old one (which keeps answering) and switches to it when done; GET /api/v1/admin/search shows the generation reached. Recorded in the audit log. Needs the admin role.",
                )
                .says(202, "The rebuild was requested.")
                .problem(503, "The server runs without search (search_unavailable).")
            }),
        )
}

fn delivery_routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/api/v1/content/{type}",
            get_with(delivery::list, |op| {
                delivery_answer(
                    op.doc(
                        "listContent",
                        "delivery",
                        "List published entries",
                        "Published entries of a public type, newest first unless `sort` says otherwise.\n\n\
                         Filters are query parameters `filter[field]=value` (equality) or \
                         `filter[field][op]=value` with op one of eq, ne, in (comma-separated values), lt, lte, \
                         gt, gte (not on lists) and contains (lists only). Unknown fields, operators or \
                         parameters are a 400.",
                    )
                    .public(),
                    "A page of published entries.",
                    true,
                )
                .links(
                    200,
                    json!({
                        "GetContent": {
                            "operationId": "getContent",
                            "parameters": {"type": "$request.path.type", "id_or_slug": "$response.body#/data/0/id"},
                        },
                    }),
                )
                .errors(&[400, 404])
            }),
        )
        .api_route(
            "/api/v1/content/{type}/{id_or_slug}",
            get_with(delivery::get_one, |op| {
                delivery_answer(
                    op.doc(
                        "getContent",
                        "delivery",
                        "Get one published entry by id or slug",
                        "The published version of an entry, by id or by slug in `locale` (default `de`). With `preview=true` and a token: the current version, drafts included.",
                    ),
                    "The entry.",
                    false,
                )
                .errors(&[400, 404])
            }),
        )
        .api_route(
            "/api/v1/changes",
            get_with(delivery::changes, |op| {
                op.doc(
                    "listChanges",
                    "delivery",
                    "The change feed of the published view",
                    "Changes with a sequence number above `since` that touched the published view of public types (for caches, static-site builds and replicas). `limit` bounds the events scanned, so a page may hold fewer; continue with `since=meta.next_since` until it equals `meta.last_seq`.",
                )
                .public()
                .says(200, "A page of the feed.")
                .header(200, "Cache-Control", "CacheControl", true)
            }),
        )
        .api_route(
            "/api/v1/changes/stream",
            get_with(stream::stream, |op| {
                op.doc(
                    "streamChanges",
                    "delivery",
                    "The change feed, live (Server-Sent Events)",
                    "The changes of the published view as they happen, as Server-Sent Events: `id:` is the sequence number, `event: change`, `data:` the event as GET /api/v1/changes gives it; a comment line every 15 s keeps the connection open. A client that reconnects with `Last-Event-ID` (EventSource does) gets every change after it, so nothing is missed; `since` does the same on the first connection. Without either it starts with the next change. The server keeps a bounded number of streams open: one more is answered 503.",
                )
                .public()
                .edit(|op| {
                    let params = op["parameters"].as_array().cloned().unwrap_or_default();
                    let mut params = params;
                    params.push(json!({
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": false,
                        "description": "The `id:` of the last event received: the stream goes on after it (a whole number).",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
                    }));
                    op["parameters"] = json!(params);
                })
                .says(200, "The stream; it ends only when the client or the server closes it.")
                .problem(400, "`since` or `Last-Event-ID` is not a sequence number, or an unknown query parameter.")
                .problem(429, "This client address has as many streams open as one client may (16 by default; rate_limited).")
                .problem(503, "The server keeps as many change streams open as it allows (overloaded); poll GET /api/v1/changes or try again later.")
            }),
        )
}

/// Links from an answer naming a webhook endpoint to the operations on it (not the test,
/// which sends a request to the endpoint's URL).
fn webhook_links(id: &str) -> Value {
    let mut links = serde_json::Map::new();
    for (name, op) in [
        ("GetWebhook", "getWebhook"),
        ("UpdateWebhook", "updateWebhook"),
        ("ListWebhookDeliveries", "listWebhookDeliveries"),
        ("RotateWebhookSecret", "rotateWebhookSecret"),
        ("RemoveWebhook", "removeWebhook"),
    ] {
        links.insert(
            name.into(),
            json!({"operationId": op, "parameters": {"id": id}}),
        );
    }
    Value::Object(links)
}

fn mail_routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/api/v1/admin/mail",
            get_with(mail::list, |op| {
                op.doc(
                    "listMail",
                    "admin",
                    "The mail queue",
                    "Mails newest first (sign-up confirmations, notes, newsletter issues, test mails) with their state, attempts and the SMTP server's last reply; `meta.counts` counts the whole queue by state. Texts and links are not shown. Needs the admin role.",
                )
                .says(200, "A page of mails.")
                .errors(&[400])
            }),
        )
        .api_route(
            "/api/v1/admin/mail/test",
            post_with(mail::test, |op| {
                op.doc(
                    "sendTestMail",
                    "admin",
                    "Send a test mail",
                    "Queues a test mail to the address; follow it with GET /api/v1/admin/mail/{id} (state `sent` with the server's reply, or `failed`/`queued` with the error). Needs the admin role.",
                )
                .says(202, "The queued test mail.")
                .problem(400, "The body is not JSON (invalid_json).")
                .problem(422, "The body is not of this shape, or `to` is not an address (invalid_request).")
            }),
        )
        .api_route(
            "/api/v1/admin/mail/{id}",
            get_with(mail::show, |op| {
                op.doc("getMail", "admin", "Show a mail of the queue", "Needs the admin role.")
                    .says(200, "The mail.")
                    .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/admin/mail/{id}/retry",
            post_with(mail::retry, |op| {
                op.doc(
                    "retryMail",
                    "admin",
                    "Send a failed or unknown mail again",
                    "Queues the mail again now (a newsletter mail whose send a crash cut off is `unknown` and is never sent again on its own). Needs the admin role.",
                )
                .says(202, "The mail, queued.")
                .errors(&[404])
                .problem(409, "The mail is not failed or unknown (mail_not_retryable).")
            }),
        )
        .api_route(
            "/api/v1/admin/newsletter/issues",
            post_with(mail::send_issue, |op| {
                op.doc(
                    "sendNewsletterIssue",
                    "newsletter",
                    "Send a newsletter issue",
                    "Builds the issue of the period with the newsletter-export plugin and queues one personalised mail per confirmed recipient (their own one-click unsubscribe link, RFC 8058 headers, `List-Id`). The same period, language and topics name the same issue: a second request queues only the recipients its ledger does not have, so no one gets an issue twice. With `dry_run` nothing is queued; the answer says how many would be. Follow it with GET /api/v1/admin/newsletter/issues/{id}. Needs the admin role.",
                )
                .says(202, "The issue and where it stands (also for a dry run).")
                .problem(400, "The body is not JSON (invalid_json).")
                .problem(404, "The export plugin is not installed (not_found).")
                .problem(422, "The body is not of this shape (invalid_request), or the plugin refused the parameters (plugin_invalid).")
                .problem(501, "The server runs without plugins (plugins_off).")
                .problem(502, "The export plugin failed or delivered no usable issue (plugin_failed).")
            }),
        )
        .api_route(
            "/api/v1/admin/newsletter/issues/{id}",
            get_with(mail::issue_status, |op| {
                op.doc(
                    "getNewsletterIssue",
                    "newsletter",
                    "Where a newsletter issue stands",
                    "Its mails by state: queued, sending, sent, failed, unknown, skipped. Needs the admin role.",
                )
                .says(200, "The issue.")
                .errors(&[404])
            }),
        )
}

fn webhook_routes() -> ApiRouter<AppState> {
    const INVALID: &str = "The body is not JSON of this shape (invalid_json, invalid_request), names an unknown event type, content type or locale or a header Verbund sets itself (invalid_webhook), or a URL that is not https:// or reaches a private, loopback, link-local or metadata address (webhook_target_refused).";
    ApiRouter::new()
        .api_route(
            "/api/v1/admin/webhooks",
            post_with(webhooks::create, |op| {
                op.doc(
                    "createWebhook",
                    "admin",
                    "Add a webhook endpoint",
                    "Deliveries are POSTed to the URL the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`), for the changes after now that match its events, content types and locales; retried on the schedule 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h. The secret is in this answer only. Needs the admin role.",
                )
                .says(201, "The endpoint, with its secret.")
                .links(201, webhook_links("$response.body#/data/id"))
                .problem(400, "The body is not JSON (invalid_json).")
                .problem(422, INVALID)
            })
            .get_with(webhooks::list, |op| {
                op.doc(
                    "listWebhooks",
                    "admin",
                    "List webhook endpoints",
                    "Every endpoint, without secrets or header values. Needs the admin role.",
                )
                .says(200, "The endpoints.")
            }),
        )
        .api_route(
            "/api/v1/admin/webhooks/{id}",
            get_with(webhooks::show, |op| {
                op.doc("getWebhook", "admin", "Show a webhook endpoint", "Needs the admin role.")
                    .says(200, "The endpoint.")
                    .errors(&[404])
            })
            .patch_with(webhooks::update, |op| {
                op.doc(
                    "updateWebhook",
                    "admin",
                    "Change a webhook endpoint",
                    "Members present replace the stored ones (`header: null` removes the custom header; `enabled: true` enables it again and forgets its failures). With `If-Match` (the endpoint's `version`), a change made meanwhile is a 409. Needs the admin role.",
                )
                .says(200, "The endpoint as changed.")
                .errors(&[404])
                .problem(400, "The body is not JSON (invalid_json) or `If-Match` is not a version (invalid_if_match).")
                .problem(409, "The endpoint was changed since the version in If-Match (version_conflict).")
                .problem(422, INVALID)
            })
            .delete_with(webhooks::remove, |op| {
                op.doc(
                    "removeWebhook",
                    "admin",
                    "Remove a webhook endpoint",
                    "Its pending deliveries and its delivery log go with it. Needs the admin role.",
                )
                .says(204, "Removed.")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/admin/webhooks/{id}/rotate-secret",
            post_with(webhooks::rotate_secret, |op| {
                op.doc(
                    "rotateWebhookSecret",
                    "admin",
                    "Give a webhook endpoint a new secret",
                    "The new secret signs from now on; for 24 hours the old one signs too (both signatures are sent), so the receiver can switch without losing a delivery. The new secret is in this answer only. Needs the admin role.",
                )
                .says(200, "The endpoint, with its new secret.")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/admin/webhooks/{id}/test",
            post_with(webhooks::test, |op| {
                op.doc(
                    "testWebhook",
                    "admin",
                    "Send a test event",
                    "Sends a signed `webhook.test` event now and answers with the delivery once its first attempt is done (or after the attempt timeout): status, latency, the start of the receiver's answer. Failed tests are retried like any delivery. Needs the admin role.",
                )
                .says(200, "The test delivery with its first attempt.")
                .errors(&[404])
                .problem(422, "The endpoint is disabled (invalid_webhook).")
            }),
        )
        .api_route(
            "/api/v1/admin/webhooks/{id}/deliveries",
            get_with(webhooks::deliveries, |op| {
                op.doc(
                    "listWebhookDeliveries",
                    "admin",
                    "The delivery log of an endpoint",
                    "Deliveries newest first, each with its attempts (time, status, latency, error, the start of the answer). Finished deliveries stay 30 days. Needs the admin role.",
                )
                .says(200, "A page of deliveries.")
                .errors(&[400, 404])
            }),
        )
        .api_route(
            "/api/v1/admin/webhooks/{id}/deliveries/{delivery}/replay",
            post_with(webhooks::replay_one, |op| {
                op.doc(
                    "replayWebhookDelivery",
                    "admin",
                    "Send one delivery again",
                    "The delivery is due at once with a fresh retry schedule and its original `webhook-id`. Needs the admin role.",
                )
                .says(202, "The delivery, queued.")
                .errors(&[404])
                .problem(422, "The endpoint is disabled (invalid_webhook).")
            }),
        )
        .api_route(
            "/api/v1/admin/webhooks/{id}/replay",
            post_with(webhooks::replay_since, |op| {
                op.doc(
                    "replayWebhook",
                    "admin",
                    "Send every change since a sequence number again",
                    "Queues a delivery for every change after `since` (at most 100,000 changes back) that the endpoint asks for now, each with its original `webhook-id`: to recover a receiver that lost data or was down longer than the retries. Needs the admin role.",
                )
                .says(202, "How many deliveries were queued.")
                .errors(&[404])
                .problem(400, "The body is not JSON (invalid_json).")
                .problem(422, "`since` is missing or not a whole number (invalid_request), too far back or the endpoint is disabled (invalid_webhook).")
            }),
        )
}

/// Links from an answer naming an asset to the operations on it (with `etag`, the writes).
fn asset_links(id: &str, name: &str, etag: Option<&str>) -> Value {
    let mut links = serde_json::Map::new();
    links.insert(
        "GetAsset".into(),
        json!({"operationId": "getAsset", "parameters": {"id": id}}),
    );
    links.insert(
        "GetAssetFile".into(),
        json!({"operationId": "getAssetFile", "parameters": {"id": id, "name": name}}),
    );
    if let Some(etag) = etag {
        for (link, op) in [("EditAsset", "editAsset"), ("DeleteAsset", "deleteAsset")] {
            links.insert(
                link.into(),
                json!({"operationId": op, "parameters": {"id": id, "header.If-Match": etag}}),
            );
        }
    }
    Value::Object(links)
}

fn asset_routes() -> ApiRouter<AppState> {
    const MEDIA_OFF: &str = "This server runs without media storage (media_off).";
    ApiRouter::new()
        .api_route(
            "/assets/{id}/{name}",
            get_with(assets::serve, |op| {
                op.doc(
                    "getAssetFile",
                    "delivery",
                    "An asset's file or a rendition",
                    "Without parameters, the sanitised original (metadata removed, orientation applied). `preset=` gives a rendition defined in the server's configuration (`thumb`, `card`, `hero`, `logo` by default); `w`, `h`, `fit`, `fm` and `q` need the signature `s` that the delivery API's `srcset` URLs carry. `fm=auto` (the default of presets) picks WebP, AVIF or JPEG from `Accept` and answers with `Vary: Accept`. With the current `v` (in every URL the API hands out), the answer is `Cache-Control: public, max-age=31536000, immutable`. Only assets shown by a published entry are public; others need a token.",
                )
                .public()
                .says(200, "The file.")
                .header(200, "ETag", "ETag", true)
                .header(200, "Cache-Control", "CacheControl", true)
                .header(200, "Surrogate-Key", "SurrogateKey", true)
                .parameter_ref("IfNoneMatch")
                .response_json(304, json!({"description": "Not modified: the client's `If-None-Match` matches."}))
                .problem(400, "An unknown parameter, a parameter out of range or a rendition of a document (invalid_transform, unknown_parameter).")
                .problem(403, "Custom parameters without a valid signature (unsigned_transform).")
                .problem(404, "No such asset, or it is not public (not_found).")
                .problem(501, MEDIA_OFF)
                .problem(503, "Every transform slot is busy or the media storage cannot be reached (media_busy); try again.")
            }),
        )
        .api_route(
            "/api/v1/manage/assets",
            post_with(assets::upload, |op| {
                op.doc(
                    "uploadAsset",
                    "media",
                    "Upload an asset",
                    "The body is the file (any `Content-Type`: the type is read from the file's bytes) with its metadata as query parameters, or a `multipart/form-data` form with a `file` part and the same fields. Accepted: JPEG, PNG, GIF, WebP images and PDF documents; SVG and AVIF originals are refused. Bytes and pixels are bounded before anything is decoded; EXIF orientation is applied, and EXIF (GPS), XMP, IPTC, comments and embedded thumbnails are removed from the stored original (the colour profile is kept). Needs the editor role.",
                )
                .says(201, "Stored: the asset.")
                .header(201, "Location", "Location", true)
                .header(201, "ETag", "ETag", true)
                .links(201, asset_links("$response.body#/data/id", "$response.body#/data/filename", Some("$response.header.ETag")))
                .problem(400, "An unknown parameter, an empty body or a form without a `file` part.")
                .problem(413, "Over the media limits: bytes or pixels (image_too_large).")
                .problem(422, "Not a file Verbund takes: its type, damage, or a file that is also another format (asset_refused); or metadata that does not fit (validation_failed).")
                .problem(501, MEDIA_OFF)
                .errors(&[503])
            })
            .layer(axum::extract::DefaultBodyLimit::max(assets::UPLOAD_BODY_LIMIT))
            .get_with(assets::list, |op| {
                op.doc(
                    "listAssets",
                    "media",
                    "The asset library",
                    "Every asset, oldest first, with the entries using it and its delivery URLs. Needs the editor, reviewer or admin role.",
                )
                .says(200, "A page of assets.")
                .links(200, asset_links("$response.body#/data/0/id", "$response.body#/data/0/filename", None))
                .problem(501, MEDIA_OFF)
            }),
        )
        .api_route(
            "/api/v1/manage/assets/{id}",
            get_with(assets::show, |op| {
                op.doc(
                    "getAsset",
                    "media",
                    "An asset",
                    "Its record (with the consent note), the entries using it, whether it is public and its delivery URLs; the ETag is the version to send as If-Match. Needs the editor, reviewer or admin role.",
                )
                .says(200, "The asset.")
                .header(200, "ETag", "ETag", true)
                .errors(&[404])
                .problem(501, MEDIA_OFF)
            })
            .patch_with(assets::edit, |op| {
                op.doc(
                    "editAsset",
                    "media",
                    "Change an asset's metadata (JSON Merge Patch)",
                    "An RFC 7386 merge patch of `filename`, `alt` (per locale), `decorative`, `caption`, `credit`, `license`, `focal` ({x, y} fractions), `crop` ({x, y, w, h} fractions, applied at delivery, never to the original) and `consent` ({person, email, given_at, scope}). Needs the editor role and `If-Match`.",
                )
                .says(200, "The asset's new version.")
                .header(200, "ETag", "ETag", true)
                .problem(409, "The asset was changed meanwhile (version_conflict).")
                .errors(&[404, 422, 428])
                .problem(501, MEDIA_OFF)
            })
            .delete_with(assets::delete, |op| {
                op.doc(
                    "deleteAsset",
                    "media",
                    "Delete an asset",
                    "Deletes an asset that no entry uses; its file and renditions are removed when no other asset has the same bytes. Needs the editor role and `If-Match`.",
                )
                .says(204, "Deleted.")
                .problem(409, "The asset was changed meanwhile (version_conflict) or is used by entries (still_referenced, with `referrers`).")
                .errors(&[404, 428])
                .problem(501, MEDIA_OFF)
            }),
        )
}

fn manage_routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/api/v1/manage/{type}",
            post_with(manage::create, |op| {
                entry_answer(
                    op.doc(
                        "createEntry",
                        "management",
                        "Create an entry (a draft)",
                        "Creates a draft of the type in the path from its fields (see `<Type>Create`). The entry is validated with every problem reported at once; references must point at existing entries and the slug must be free. Needs the editor role.",
                    ),
                    201,
                    "Created: the new draft.",
                )
                .header(201, "Location", "Location", true)
                .errors(&[404, 422, 502])
            })
            .get_with(manage::list, |op| {
                op.doc(
                    "listEntries",
                    "management",
                    "List current entries (any state)",
                    "The current version of every entry of the type, in id order. Needs the editor, reviewer or admin role.",
                )
                .says(200, "A page of entries.")
                .links(200, entry_links("$response.body#/data/0/id", None))
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/manage/{type}/{id}",
            get_with(manage::get_one, |op| {
                entry_answer(
                    op.doc(
                        "getEntry",
                        "management",
                        "Get an entry's current version",
                        "By id, or by slug in locale `de`. Needs the editor, reviewer or admin role.",
                    ),
                    200,
                    "The entry; its ETag is the version to send as If-Match.",
                )
                .errors(&[404])
            })
            .put_with(manage::replace, |op| {
                entry_answer(
                    op.doc(
                        "replaceEntry",
                        "management",
                        "Replace an entry's fields",
                        "The body holds all fields (see `<Type>Replace`); metadata keys are ignored, so an entry read with GET can be edited and sent back. Needs the editor role and `If-Match`.",
                    ),
                    200,
                    "The entry's new version.",
                )
                .problem(409, WRITE_CONFLICT)
                .errors(&[404, 422, 428, 502])
            })
            .patch_with(manage::patch, |op| {
                entry_answer(
                    op.doc(
                        "patchEntry",
                        "management",
                        "Change some fields (JSON Merge Patch)",
                        "An RFC 7386 merge patch of the fields; the result is validated like a replacement. Needs the editor role and `If-Match`.",
                    ),
                    200,
                    "The entry's new version.",
                )
                .problem(409, WRITE_CONFLICT)
                .errors(&[404, 422, 428, 502])
            })
            .delete_with(manage::delete, |op| {
                op.doc(
                    "deleteEntry",
                    "management",
                    "Delete an entry",
                    "Deletes an entry that nothing references (its revisions are kept). Needs the editor role and `If-Match`.",
                )
                .says(204, "Deleted.")
                .problem(409, "The entry was changed meanwhile (version_conflict, with `current_version`) or is still referenced (still_referenced, with `referrers`).")
                .errors(&[404, 428])
            }),
        )
        .api_route(
            "/api/v1/manage/{type}/{id}/translations",
            get_with(manage::translations, |op| {
                op.doc(
                    "listTranslations",
                    "management",
                    "An entry's original and its translations",
                    "The original first, then every translation (one per locale), each with `translation`: the fields whose original text changed since they were translated. The entry is named by id, or by slug in de. Needs the editor, reviewer or admin role.",
                )
                .says(200, "The original and its translations.")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/manage/{type}/{id}/revisions",
            get_with(manage::revisions, |op| {
                op.doc(
                    "listRevisions",
                    "management",
                    "Every version of an entry",
                    "All stored versions, oldest first. Needs the editor, reviewer or admin role.",
                )
                .says(200, "The versions.")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/manage/{type}/{id}/transitions",
            post_with(manage::transition, |op| {
                entry_answer(
                    op.doc(
                        "transitionEntry",
                        "management",
                        "Move an entry to another state (publish, unpublish, archive)",
                        "Takes a transition of the type's workflow, by target state (`to`) or name (`transition`); with `at` in the future it is scheduled instead. Publishing makes the entry's current version the public one (and validates it against the published view: slug free, references published). Roles may be limited per transition, some need a comment, and a plugin governing the type may refuse. Needs the editor, reviewer or admin role.",
                    ),
                    200,
                    "The entry in its new state.",
                )
                .problem(409, "The workflow does not allow this transition from the entry's state (invalid_transition), the governing plugin refused it (transition_denied, with `plugin` and `reason`) or the entry changed meanwhile (version_conflict).")
                .problem(422, "Neither `to` nor `transition` is a string, `at` is not an RFC 3339 instant, the transition needs a comment, or publishing would break the published view (validation_failed, with `errors`).")
                .errors(&[404, 502])
            }),
        )
        .api_route(
            "/api/v1/manage/{type}/{id}/history",
            get_with(manage::history, |op| {
                op.doc(
                    "getHistory",
                    "management",
                    "An entry's history",
                    "Its creation, every edit, transition and schedule, oldest first, with who did it and their comments. By id, or by slug in locale `de`. Needs the editor, reviewer or admin role.",
                )
                .says(200, "The history.")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/manage/review-queue",
            get_with(manage::review_queue, |op| {
                op.doc(
                    "reviewQueue",
                    "management",
                    "What waits for the caller",
                    "Current entries of types governed by a plugin workflow that the caller may move toward publication now: a transition of the caller's role (admins: any) that the governing plugin's guard allows this caller for this entry (so its rules decide: four eyes, the number of approvals). Needs the editor, reviewer or admin role.",
                )
                .says(200, "The entries waiting, by type.")
            }),
        )
        .api_route(
            "/api/v1/manage/exports/{plugin}/{export}",
            post_with(plugins::export, |op| {
                op.doc(
                    "runExport",
                    "management",
                    "Run a plugin export",
                    "Runs one of a plugin's exports (e.g. `newsletter-export`/`issue`) with the members of the JSON object body as its parameters (strings as they are, other values as JSON text); an empty body means no parameters. The artifacts come back base64-encoded. Needs the editor, reviewer or admin role.",
                )
                .says(200, "The artifacts.")
                .problem(404, "No plugin of that name is installed (not_found).")
                .problem(409, "The plugin is disabled (plugin_disabled).")
                .problem(422, "The plugin has no export of that name (plugin_invalid).")
                .errors(&[415, 502])
                .response_json(501, json!({"$ref": "#/components/responses/PluginsOff"}))
            }),
        )
}

fn bulk_routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/api/v1/schemas",
            get_with(bulk::schemas, |op| {
                op.doc(
                    "listSchemas",
                    "ops",
                    "The content types",
                    "Every content type of this server with its title and whether it is personal.",
                )
                .public()
                .says(200, "The content types.")
            }),
        )
        .api_route(
            "/api/v1/schemas/{type}",
            get_with(bulk::schema, |op| {
                op.doc(
                    "getSchema",
                    "ops",
                    "A content type's JSON Schema",
                    "The schema as the server validates with, `$ref`s to shared definitions resolved, with the `x-verbund` annotations (editors' tools build forms from it).",
                )
                .public()
                .says(200, "The schema.")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/import/{type}",
            post_with(bulk::import, |op| {
                op.doc(
                    "importEntries",
                    "admin",
                    "Import entries (NDJSON)",
                    "One JSON object per line, as `GET /api/v1/export/{type}` writes them: the fields plus optional id, locale, state (draft or published), published_at and translation_of. Each line is validated and stored or rejected on its own; the answer counts both and lists each rejected line's problems. The content type of the body is not checked. Needs the admin role.",
                )
                .says(200, "What was imported and rejected.")
                .problem(400, "An unknown query parameter, a `first_line` that is not a line number (invalid_parameter) or a body that is not UTF-8 (invalid_body).")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/export/{type}",
            get_with(bulk::export, |op| {
                op.doc(
                    "exportEntries",
                    "management",
                    "Export entries (NDJSON)",
                    "The current version of every entry of the type, one JSON object per line in id order, as `POST /api/v1/import/{type}` takes them back. Takes no query parameters. Needs the editor, reviewer or admin role; for personal types the admin role.",
                )
                .says(200, "The entries, one per line.")
                .header(200, "Cache-Control", "CacheControl", true)
                .errors(&[404])
            }),
        )
}

fn newsletter_routes() -> ApiRouter<AppState> {
    const BAD_LINK: &str = "No token (missing_token), an unknown query parameter, or a token that is not valid (invalid_link).";
    const GONE: &str = "The link has expired (link_expired), was used already or was replaced by a newer sign-up or an unsubscription (link_used).";
    ApiRouter::new()
        .api_route(
            "/api/v1/newsletter/subscribe",
            post_with(newsletter::subscribe, |op| {
                op.doc(
                    "subscribeNewsletter",
                    "newsletter",
                    "Sign up for the newsletter (first opt-in)",
                    "Stores the request and mails a confirmation link to the address. The answer is the same whatever the address's state (new, unconfirmed, subscribed, unsubscribed), so that nobody learns through the form whether someone is subscribed; a subscribed address gets a note instead of a link.",
                )
                .public()
                .says(202, "Accepted: check your mail.")
                .problem(400, "The body is not JSON (invalid_json) or not a sign-up: a missing or unknown key, a value of the wrong type (invalid_sign_up).")
                .problem(409, "The subscriber was changed meanwhile (version_conflict); try again.")
                .errors(&[422])
                .problem(501, "This server has no mail outbox (newsletter_off).")
                .problem(503, "The mail could not be written (mail_unavailable), or the server is overloaded; try again later.")
            }),
        )
        .api_route(
            "/api/v1/newsletter/confirm",
            get_with(newsletter::confirm_page, |op| {
                let op = op
                    .doc(
                        "confirmNewsletter",
                        "newsletter",
                        "Confirm a sign-up (second opt-in)",
                        "The link in the confirmation mail. Checks the link and answers with a page whose button sends the POST that confirms (link scanners fetch links, so a GET never confirms), or with `confirmation_pending` as JSON when `Accept` names JSON.",
                    )
                    .public()
                    .says(200, "The link is valid; POST to the same URL to confirm.");
                let op = problem_or_page(op, 400, BAD_LINK);
                let op = problem_or_page(op, 404, "The subscriber no longer exists (not_found).");
                problem_or_page(op, 410, GONE)
            })
            .post_with(newsletter::confirm, |op| {
                let op = op
                    .doc(
                        "confirmNewsletterSubscription",
                        "newsletter",
                        "Confirm a sign-up (second opt-in)",
                        "Sent by the button of the confirmation page. A link confirms once, and only the newest sign-up request of an address. Answers with a page, or JSON when `Accept` names JSON. The body is not read.",
                    )
                    .public()
                    .says(200, "Confirmed.");
                let op = problem_or_page(op, 400, BAD_LINK);
                let op = problem_or_page(op, 404, "The subscriber no longer exists (not_found).");
                let op = problem_or_page(
                    op,
                    409,
                    "The subscriber was changed meanwhile (version_conflict).",
                );
                problem_or_page(op, 410, GONE)
            }),
        )
        .api_route(
            "/api/v1/newsletter/unsubscribe",
            get_with(newsletter::unsubscribe_page, |op| {
                op.doc(
                    "unsubscribePage",
                    "newsletter",
                    "The page of an unsubscribe link",
                    "A page with a button that sends the one-click POST. It does not unsubscribe by itself (link scanners fetch links) and does not check the token.",
                )
                .public()
                .says(200, "The page.")
                .problem(400, "No token (missing_token) or an unknown query parameter.")
            })
            .post_with(newsletter::unsubscribe, |op| {
                op.doc(
                    "unsubscribeNewsletter",
                    "newsletter",
                    "Unsubscribe (one click, RFC 8058)",
                    "Mail programs send `List-Unsubscribe=One-Click` as a form; the body is not read. Answers with a page, or JSON when `Accept` names JSON. Unsubscribing twice is fine.",
                )
                .public()
                .says(200, "Unsubscribed.")
                .problem(400, BAD_LINK)
                .problem(404, "The subscriber no longer exists (not_found).")
                .problem(409, "The subscriber was changed meanwhile (version_conflict).")
                .problem(410, "The link has expired (link_expired).")
            }),
        )
}

fn admin_routes() -> ApiRouter<AppState> {
    const SUBJECT: &str =
        "The body is not JSON (invalid_json) or names no e-mail address (invalid_email).";
    ApiRouter::new()
        .api_route(
            "/api/v1/admin/tokens",
            post_with(admin::create_token, |op| {
                op.doc(
                    "createToken",
                    "admin",
                    "Issue a token",
                    "Issues a token with a role; the secret is in the answer only. Needs the admin role.",
                )
                .says(201, "The new token, with its secret.")
                .links(
                    201,
                    json!({
                        "RevokeToken": {
                            "operationId": "revokeToken",
                            "parameters": {"id": "$response.body#/data/id"},
                        },
                    }),
                )
                .problem(422, "No or an unknown role, a value of the wrong type, or an expiry that is not a duration (invalid_request).")
            })
            .get_with(admin::list_tokens, |op| {
                op.doc(
                    "listTokens",
                    "admin",
                    "List tokens",
                    "Every token, revoked ones included, without secrets. Needs the admin role.",
                )
                .says(200, "The tokens.")
            }),
        )
        .api_route(
            "/api/v1/admin/tokens/{id}",
            delete_with(admin::revoke_token, |op| {
                op.doc(
                    "revokeToken",
                    "admin",
                    "Revoke a token",
                    "The token stops working at once; its record stays (with `revoked_at`). Needs the admin role.",
                )
                .says(200, "The revoked token.")
                .errors(&[404])
            }),
        )
        .api_route(
            "/api/v1/admin/audit",
            get_with(admin::audit, |op| {
                op.doc(
                    "listAudit",
                    "admin",
                    "Read the audit log",
                    "Audit records after `since`, oldest first. Needs the admin role.",
                )
                .says(200, "A page of the audit log.")
            }),
        )
        .api_route(
            "/api/v1/admin/backup",
            get_with(bulk::backup, |op| {
                op.doc(
                    "backup",
                    "admin",
                    "An online backup",
                    "A consistent snapshot of the whole data dir, streamed (restore with `verbund backup restore`); writes wait while it is read, reads go on. Needs the admin role.",
                )
                .says(200, "The backup.")
                .header(200, "Cache-Control", "CacheControl", true)
            }),
        )
        .api_route(
            "/api/v1/admin/gdpr/export",
            post_with(admin::gdpr_export, |op| {
                op.doc(
                    "gdprExport",
                    "admin",
                    "Everything stored about a person (GDPR Art. 15)",
                    "Entries of personal types holding the address, with every version and their history, and the personal fields of other entries holding it, in every version. Audited. Needs the admin role.",
                )
                .says(200, "The export.")
                .problem(400, SUBJECT)
                .problem(422, "The body is not a data-subject request: no `email`, or not a string (invalid_request).")
            }),
        )
        .api_route(
            "/api/v1/admin/gdpr/erase",
            post_with(admin::gdpr_erase, |op| {
                op.doc(
                    "gdprErase",
                    "admin",
                    "Erase a person (GDPR Art. 17)",
                    "Deletes entries of personal types holding the address with all their versions, removes the personal fields holding it from other entries in every version, and deletes mails to it from the outbox. The audit record holds counts only. Needs the admin role.",
                )
                .says(200, "What was erased.")
                .problem(400, SUBJECT)
                .problem(422, "The body is not a data-subject request: no `email`, or not a string (invalid_request).")
            }),
        )
}

fn plugin_routes() -> ApiRouter<AppState> {
    fn plugin_op<'a>(op: Op<'a>, id: &str, summary: &str, description: &str) -> Op<'a> {
        op.doc(id, "admin", summary, description)
            .errors(&[404])
            .response_json(501, json!({"$ref": "#/components/responses/PluginsOff"}))
    }
    ApiRouter::new()
        .api_route(
            "/api/v1/admin/plugins",
            get_with(plugins::list, |op| {
                op.doc(
                    "listPlugins",
                    "admin",
                    "List the installed plugins",
                    "Every installed plugin with its grants, settings, limits in effect and recent faults. Needs the admin role.",
                )
                .says(200, "The plugins.")
                .links(200, plugin_links("$response.body#/data/0/name"))
                .response_json(501, json!({"$ref": "#/components/responses/PluginsOff"}))
            })
            .post_with(plugins::install, |op| {
                op.doc(
                    "installPlugin",
                    "admin",
                    "Install or upgrade a plugin",
                    "The body is the plugin, a WebAssembly component (built with plugins/build); a plugin of the same name is upgraded. The content type of the body is not checked. Needs the admin role.",
                )
                .says(201, "Installed (or upgraded).")
                .also(200, 201, "Dry run: what an install would do.")
                .links(201, plugin_links("$response.body#/data/plugin/name"))
                .problem(400, "An empty body (empty_body), a grant that is not `read:TYPE[+personal]` (invalid_grant) or an unknown query parameter.")
                .problem(422, "Not a valid plugin: not a WebAssembly component, a contract this server does not speak, a manifest it cannot accept (plugin_invalid).")
                .response_json(501, json!({"$ref": "#/components/responses/PluginsOff"}))
                .problem(503, "The plugin host is busy (plugins_busy), or the server is overloaded; try again.")
            })
            .layer(axum::extract::DefaultBodyLimit::max(
                crate::plugin::MAX_COMPONENT_BYTES,
            )),
        )
        .api_route(
            "/api/v1/admin/plugins/{name}",
            get_with(plugins::show, |op| {
                plugin_op(op, "getPlugin", "Show a plugin", "Needs the admin role.")
                    .says(200, "The plugin.")
            })
            .patch_with(plugins::configure, |op| {
                plugin_op(
                    op,
                    "configurePlugin",
                    "Change a plugin's limits and settings",
                    "Replaces the limit overrides and/or the settings; with new settings the plugin describes itself again (and is refused if it cannot). Needs the admin role.",
                )
                .says(200, "The plugin with its new settings.")
                .problem(400, "The body is not JSON (invalid_json), `limits` is not a map of hooks to limits (invalid_limits), `config` not an object of strings or `required` not a boolean (invalid_config).")
                .problem(422, "With these settings the plugin cannot describe itself (plugin_invalid).")
            })
            .delete_with(plugins::remove, |op| {
                plugin_op(
                    op,
                    "removePlugin",
                    "Remove a plugin",
                    "Its hooks stop at once; entries keep their state. Needs the admin role.",
                )
                .says(200, "The removed plugin's record.")
            }),
        )
        .api_route(
            "/api/v1/admin/plugins/{name}/enable",
            post_with(plugins::enable, |op| {
                plugin_op(
                    op,
                    "enablePlugin",
                    "Enable a plugin",
                    "Its hooks run again and its recent faults are forgotten. Needs the admin role.",
                )
                .says(200, "The plugin.")
            }),
        )
        .api_route(
            "/api/v1/admin/plugins/{name}/disable",
            post_with(plugins::disable, |op| {
                plugin_op(
                    op,
                    "disablePlugin",
                    "Disable a plugin",
                    "Its hooks stop running until it is enabled again (the reason names who disabled it). Needs the admin role.",
                )
                .says(200, "The plugin.")
            }),
        )
}
